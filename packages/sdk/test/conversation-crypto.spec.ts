import { randomUUID } from 'node:crypto';
import { CryptoError, generateDeviceKeys, generatePatientAccountKeys, ready } from '@parley/crypto';
import type { RecordEntry } from '@parley/protocol';
import { decryptEntry, encryptForSend, newEpoch, openEnvelope } from '../src/index.js';

describe('conversation crypto', () => {
  beforeAll(async () => {
    await ready();
  });

  const conversation = { id: randomUUID(), practiceOdsCode: 'Y00001', patientId: randomUUID() };
  const asEntry = (payload: ReturnType<typeof encryptForSend>, sender: { userId: string; deviceId: string }, seq = 2): RecordEntry => ({
    conversationId: payload.conversationId,
    seq,
    kind: 'message',
    serverTime: new Date().toISOString(),
    hash: '00',
    message: { ...payload, senderUserId: sender.userId, senderDeviceId: sender.deviceId, senderRole: 'patient' },
  });

  it('seals an epoch key to each recipient, each of whom can open it', () => {
    const creator = generateDeviceKeys();
    const account = generatePatientAccountKeys();
    const targets = [
      { recipient: { kind: 'device' as const, deviceId: randomUUID() }, boxPublicKey: creator.boxPublicKey },
      { recipient: { kind: 'account' as const, userId: conversation.patientId }, boxPublicKey: account.boxPublicKey },
    ];

    const { epochKey, envelopes } = newEpoch({ conversationId: conversation.id, epoch: 1, targets, creatorSignSecretKey: creator.signSecretKey });
    const opened = [creator, account].map((keys, index) =>
      openEnvelope({
        conversationId: conversation.id,
        envelope: { ...envelopes[index]!, epoch: 1 },
        recipient: keys,
        creator: { signPublicKey: creator.signPublicKey, isTrusted: true, isMember: true },
      }),
    );

    expect(envelopes.map((envelope) => envelope.recipient)).toEqual(targets.map((target) => target.recipient));
    expect(opened).toEqual([epochKey, epochKey]);
  });

  it('round-trips a message through the wire shape, rebuilding the additional data from its fields', () => {
    const device = generateDeviceKeys();
    const sender = { userId: conversation.patientId, deviceId: randomUUID(), role: 'patient' as const, signSecretKey: device.signSecretKey };
    const { epochKey } = newEpoch({ conversationId: conversation.id, epoch: 1, targets: [], creatorSignSecretKey: device.signSecretKey });

    const payload = encryptForSend({
      conversation,
      epoch: 1,
      epochKey,
      sender,
      senderDeviceSeq: 1,
      clientMessageId: randomUUID(),
      body: 'Can I renew my prescription?',
    });
    const decrypted = decryptEntry({ conversation, entry: asEntry(payload, sender), epochKey, senderSignPublicKey: device.signPublicKey });

    expect(decrypted.body).toBe('Can I renew my prescription?');
    expect(decrypted.redFlags).toBeUndefined();
  });

  it('carries the red flags the patient was warned about inside the signed message, and refuses a malformed id', () => {
    const device = generateDeviceKeys();
    const sender = { userId: conversation.patientId, deviceId: randomUUID(), role: 'patient' as const, signSecretKey: device.signSecretKey };
    const { epochKey } = newEpoch({ conversationId: conversation.id, epoch: 1, targets: [], creatorSignSecretKey: device.signSecretKey });
    const send = (redFlags: string[]) =>
      encryptForSend({ conversation, epoch: 1, epochKey, sender, senderDeviceSeq: 1, clientMessageId: randomUUID(), body: 'crushing chest pain', redFlags });

    const payload = send(['chest_pain']);
    const decrypted = decryptEntry({ conversation, entry: asEntry(payload, sender), epochKey, senderSignPublicKey: device.signPublicKey });

    expect(decrypted.redFlags).toEqual(['chest_pain']);
    expect(() => send(['Chest pain'])).toThrow(expect.objectContaining({ code: 'invalid_input' }));
  });

  it('fails, typed, for an entry the server moved to another patient or re-attributed', () => {
    const device = generateDeviceKeys();
    const sender = { userId: conversation.patientId, deviceId: randomUUID(), role: 'patient' as const, signSecretKey: device.signSecretKey };
    const { epochKey } = newEpoch({ conversationId: conversation.id, epoch: 1, targets: [], creatorSignSecretKey: device.signSecretKey });
    const payload = encryptForSend({ conversation, epoch: 1, epochKey, sender, senderDeviceSeq: 1, clientMessageId: randomUUID(), body: 'hello' });
    const entry = asEntry(payload, sender);

    const moved = () =>
      decryptEntry({ conversation: { ...conversation, patientId: randomUUID() }, entry, epochKey, senderSignPublicKey: device.signPublicKey });
    const reattributed = () =>
      decryptEntry({
        conversation,
        entry: { ...entry, message: { ...entry.message!, senderUserId: randomUUID() } },
        epochKey,
        senderSignPublicKey: device.signPublicKey,
      });

    expect(moved).toThrow(CryptoError);
    expect(reattributed).toThrow(expect.objectContaining({ code: 'decrypt_failed' }));
  });
});
