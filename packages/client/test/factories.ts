import { randomUUID } from 'node:crypto';
import type { ConversationSend, RecordEntry } from '@parley/protocol';
import type { EntryCodec } from '../src/index.js';

/** A fresh conversation id. */
export const aConversationId = (): string => randomUUID();

let senderDeviceSeq = 0;

/** A valid `conversation:send` whose "ciphertext" is the text itself (padded to the 17-byte minimum), so tests can read it back. */
export function aSend(conversationId: string, text: string, overrides: Partial<ConversationSend> = {}): ConversationSend {
  senderDeviceSeq += 1;
  return {
    conversationId,
    clientMessageId: randomUUID(),
    epoch: 1,
    senderDeviceSeq,
    contentType: 'text',
    ciphertext: Buffer.from(text.padEnd(17, ' ')).toString('base64'),
    nonce: Buffer.alloc(24, 7).toString('base64'),
    ...overrides,
  };
}

/** Reads back what {@link aSend} wrote. */
export function textOf(entry: RecordEntry): string {
  return Buffer.from(entry.message?.ciphertext ?? '', 'base64')
    .toString()
    .trimEnd();
}

/** A codec that "opens" an entry into its text, and fails for the texts listed. */
export function aTextCodec(failingTexts: readonly string[] = []): EntryCodec<string> {
  return {
    open: async (entry) => {
      const text = textOf(entry);
      if (failingTexts.includes(text)) throw new Error('bad_signature');
      return text;
    },
  };
}

/** Polls until the condition holds (the sockets are real, so there is no timer to advance); fails after `timeoutMs`. */
export async function waitFor(condition: () => boolean, timeoutMs = 3_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Lets the event loop run for a while, to show that something does NOT happen (e.g. no reconnection attempt). */
export const settle = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
