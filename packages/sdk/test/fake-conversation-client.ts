import { randomUUID } from 'node:crypto';
import type { ParleyClient } from '@parley/client';
import {
  certifyDevice,
  certifyStaffDevice,
  generateDeviceKeys,
  generatePatientAccountKeys,
  generatePracticeRootKey,
  toBase64,
  type IdentityKeys,
} from '@parley/crypto';
import type { ConversationSummary, JoinedConversation, MemberDevice, RecordEntry, SendResult } from '@parley/protocol';
import { encryptForSend, epochKeyId, newEpoch, type SignedIn } from '../src/index.js';

type Handler = (payload: Record<string, unknown>) => unknown;
type Listener = (...args: unknown[]) => void;

/**
 * A stand-in for ParleyClient with no socket: a conversation's record, join answers and command answers held
 * in memory, every request kept in order, and facts emitted by the test. Enough for a conversation model,
 * its ConversationFeed and the outbox; the real client and gateway are tested by their own suites.
 */
export class FakeConversationClient {
  connectionState: 'online' | 'offline' = 'online';
  readonly requests: { event: string; payload: Record<string, unknown> }[] = [];
  readonly record: RecordEntry[] = [];
  /** Answers by command name; a command without one answers `{ ok: true, data: null }`. */
  readonly handlers = new Map<string, Handler>();
  private readonly listeners = new Map<string, Set<Listener>>();

  /** The same object, typed as the client it stands in for. */
  get asClient(): ParleyClient {
    return this as unknown as ParleyClient;
  }

  on(event: string, listener: Listener): void {
    const set = this.listeners.get(event) ?? new Set();
    set.add(listener);
    this.listeners.set(event, set);
  }

  off(event: string, listener: Listener): void {
    this.listeners.get(event)?.delete(listener);
  }

  /** Delivers a server fact to the listeners. */
  emit(event: string, ...args: unknown[]): void {
    for (const listener of [...(this.listeners.get(event) ?? [])]) listener(...args);
  }

  /** Appends an entry to the record and relays it, as the gateway does after a commit. */
  relay(entry: RecordEntry): void {
    this.record.push(entry);
    this.emit('message:relayed', entry);
  }

  async request(event: string, payload: Record<string, unknown>): Promise<unknown> {
    this.requests.push({ event, payload });
    await Promise.resolve();
    if (event === 'conversation:sync') {
      const after = this.record.filter((entry) => entry.seq > (payload['afterSeq'] as number));
      return { ok: true, data: { entries: after, lastSeq: this.record.at(-1)?.seq ?? 0, hasMore: false } };
    }
    const handler = this.handlers.get(event);
    return handler ? handler(payload) : { ok: true, data: null };
  }

  /** The requests of one command, in order. */
  requestsOf(event: string): Record<string, unknown>[] {
    return this.requests.filter((request) => request.event === event).map((request) => request.payload);
  }
}

/** A member's device as the server lists it, and its keys. */
export interface TestDevice {
  keys: IdentityKeys;
  member: MemberDevice;
}

/**
 * A practice, a patient (account key and a device it certified) and two clinicians (devices certified by the
 * practice root), and one conversation whose first epoch key the patient holds: what a patient's model needs.
 */
export function aPatientConversation() {
  const odsCode = 'Y00001';
  const root = generatePracticeRootKey();
  const account = generatePatientAccountKeys();
  const patientId = randomUUID();
  const conversationId = randomUUID();
  const patientDevice = deviceOf({ userId: patientId, role: 'patient', displayName: 'Ada Lovelace' }, (fields) =>
    toBase64(certifyDevice(fields, account.signSecretKey).signature),
  );
  const staff = (displayName: string): TestDevice =>
    deviceOf(
      { userId: randomUUID(), role: 'clinician', displayName: 'server says nothing' },
      (fields) => toBase64(certifyStaffDevice({ ...fields, practiceId: odsCode, displayName, roles: ['clinician'] }, root.signSecretKey)),
      displayName,
    );
  const clinician = staff('Dr Alex Morgan');
  const colleague = staff('Dr Sam Patel');
  const { epochKey } = newEpoch({ conversationId, epoch: 1, targets: [], creatorSignSecretKey: patientDevice.keys.signSecretKey });
  const summary: ConversationSummary = {
    id: conversationId,
    practiceId: randomUUID(),
    practiceOdsCode: odsCode,
    patientId,
    topic: 'admin',
    status: 'assigned',
    assignedClinicianId: clinician.member.userId,
    currentEpoch: 1,
    lastSeq: 0,
    createdAt: new Date(0).toISOString(),
    urgentAt: null,
  };
  const signedIn = {
    session: {
      token: 't',
      expiresAt: new Date(Date.now() + 3_600_000).toISOString(),
      user: { id: patientId, roles: ['patient'], displayName: 'Ada Lovelace' },
      practice: { odsCode },
    },
    device: { deviceId: patientDevice.member.id, keys: patientDevice.keys },
    account: { signPublicKey: account.signPublicKey, boxPublicKey: account.boxPublicKey },
  } as unknown as SignedIn;
  const patientAccount = {
    userId: patientId,
    signPublicKey: toBase64(account.signPublicKey),
    boxPublicKey: toBase64(account.boxPublicKey),
    accountSignature: null,
    invitation: null,
    certificate: null,
  };
  /** A join answer listing these devices, with the summary at the record's current end. */
  const joined = (devices: readonly TestDevice[], record: readonly RecordEntry[]): JoinedConversation => ({
    conversation: { ...summary, lastSeq: record.at(-1)?.seq ?? 0 },
    envelopes: [],
    devices: devices.map((device) => device.member),
    patientAccount,
    receipts: [],
  });
  /** A message entry as the record holds it, encrypted by `from` under the epoch key. */
  const message = (seq: number, from: TestDevice, body: string, clientMessageId = randomUUID()): RecordEntry => {
    const role = from.member.role === 'patient' ? 'patient' : 'clinician';
    const payload = encryptForSend({
      conversation: summary,
      epoch: 1,
      epochKey,
      sender: { userId: from.member.userId, deviceId: from.member.id, role, signSecretKey: from.keys.signSecretKey },
      senderDeviceSeq: seq,
      clientMessageId,
      body,
    });
    return {
      conversationId,
      seq,
      kind: 'message',
      serverTime: new Date(seq * 1000).toISOString(),
      hash: '00',
      message: { ...payload, senderUserId: from.member.userId, senderDeviceId: from.member.id, senderRole: role },
    };
  };
  /** A system entry as the record holds it. */
  const system = (seq: number, event: string, data: Record<string, unknown>): RecordEntry =>
    ({ conversationId, seq, kind: 'system', serverTime: new Date(seq * 1000).toISOString(), hash: '00', system: { event, data } }) as RecordEntry;
  /** A new device of the patient, certified by the account key: its id and certificate. */
  const certifyPatientDevice = (keys: IdentityKeys): { id: string; signature: string } => {
    const id = randomUUID();
    const fields = { userId: patientId, deviceId: id, signPublicKey: keys.signPublicKey, boxPublicKey: keys.boxPublicKey };
    return { id, signature: toBase64(certifyDevice(fields, account.signSecretKey).signature) };
  };
  /** A `conversation:send` payload of the patient's device under epoch 1. */
  const sendOf = (senderDeviceSeq: number, body: string) =>
    encryptForSend({
      conversation: summary,
      epoch: 1,
      epochKey,
      sender: { userId: patientId, deviceId: patientDevice.member.id, role: 'patient', signSecretKey: patientDevice.keys.signSecretKey },
      senderDeviceSeq,
      clientMessageId: randomUUID(),
      body,
    });
  return {
    conversationId,
    summary,
    signedIn,
    certifyPatientDevice,
    sendOf,
    patientDevice,
    clinician,
    colleague,
    epochKeys: new Map([[epochKeyId(conversationId, 1), epochKey]]),
    pinnedRoot: root.signPublicKey,
    joined,
    message,
    system,
  };
}

/** A send's answer as the gateway gives it. */
export const sent = (seq: number): { ok: true; data: SendResult } => ({
  ok: true,
  data: { seq, serverTime: new Date(seq * 1000).toISOString(), isDuplicate: false },
});

function deviceOf(
  who: { userId: string; role: MemberDevice['role']; displayName: string },
  certify: (fields: { userId: string; deviceId: string; signPublicKey: Uint8Array; boxPublicKey: Uint8Array }) => string,
  certifiedName?: string,
): TestDevice {
  const keys = generateDeviceKeys();
  const id = randomUUID();
  const certificate = certify({ userId: who.userId, deviceId: id, signPublicKey: keys.signPublicKey, boxPublicKey: keys.boxPublicKey });
  return {
    keys,
    member: {
      id,
      userId: who.userId,
      role: who.role,
      displayName: who.displayName,
      signPublicKey: toBase64(keys.signPublicKey),
      boxPublicKey: toBase64(keys.boxPublicKey),
      certificate,
      certifiedAs: certifiedName ? { displayName: certifiedName, roles: ['clinician'] } : null,
      revokedAt: null,
    },
  };
}
