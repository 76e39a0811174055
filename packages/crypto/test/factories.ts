import { randomUUID } from 'node:crypto';
import type { CryptoErrorCode, MessageHeader, MessagePayload } from '../src/index.js';
import { CryptoError } from '../src/index.js';

/** Runs `action` and returns the code of the CryptoError it throws, or says what happened instead. */
export function errorCodeOf(action: () => unknown): CryptoErrorCode | 'no error' | 'not a CryptoError' {
  try {
    action();
  } catch (error) {
    return error instanceof CryptoError ? error.code : 'not a CryptoError';
  }
  return 'no error';
}

export function aUuid(): string {
  return randomUUID();
}

export function aHeader(overrides: Partial<MessageHeader> = {}): MessageHeader {
  return {
    practiceId: 'A81001',
    conversationId: aUuid(),
    patientId: aUuid(),
    epoch: 1,
    senderUserId: aUuid(),
    senderDeviceId: aUuid(),
    senderRole: 'patient',
    senderDeviceSeq: 1,
    clientMsgId: aUuid(),
    contentType: 'text',
    ...overrides,
  };
}

export function aPayload(overrides: Partial<MessagePayload> = {}): MessagePayload {
  return { body: 'Could I book a blood test next week?', attachments: [], clientSentAt: '2026-01-02T09:30:00.000Z', ...overrides };
}

/** A copy of `bytes` with one bit flipped at `index` (negative counts from the end). */
export function flipped(bytes: Uint8Array, index: number): Uint8Array {
  const copy = bytes.slice();
  const at = index < 0 ? copy.length + index : index;
  copy[at] = (copy[at] ?? 0) ^ 0x01;
  return copy;
}

export function hexOf(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

export function bytesOf(hex: string): Uint8Array {
  return new Uint8Array(Buffer.from(hex, 'hex'));
}
