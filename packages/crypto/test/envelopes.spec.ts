import sodium from 'libsodium-wrappers-sumo';
import type { EpochEnvelope, EnvelopeCreator } from '../src/index.js';
import { createEpochKey, envelopeSignedBytes, generateDeviceKeys, keyId, openEpochKey, ready, sealEpochKey, verifyEnvelopeSignature } from '../src/index.js';
import { aUuid, errorCodeOf, flipped } from './factories.js';

await ready();

function anEnvelope() {
  const creator = generateDeviceKeys();
  const recipient = generateDeviceKeys();
  const epochKey = createEpochKey();
  const ref = { conversationId: aUuid(), epoch: 2 };
  const envelope = sealEpochKey({ ...ref, epochKey, recipientBoxPublicKey: recipient.boxPublicKey, creatorSignSecretKey: creator.signSecretKey });
  const trusted: EnvelopeCreator = { signPublicKey: creator.signPublicKey, isTrusted: true, isMember: true };
  const open = (changes: { envelope?: EpochEnvelope; creator?: Partial<EnvelopeCreator>; conversationId?: string; epoch?: number } = {}) =>
    openEpochKey({ ...ref, envelope, recipient, ...changes, creator: { ...trusted, ...changes.creator } });
  return { creator, recipient, epochKey, ref, envelope, open };
}

describe('sealEpochKey', () => {
  it('makes an 80-byte sealed key, a 64-byte signature and the recipient key id', () => {
    const { recipient, envelope } = anEnvelope();

    expect([envelope.sealedKey.length, envelope.signature.length]).toEqual([80, 64]);
    expect(envelope.recipientKeyId).toEqual(keyId(recipient.boxPublicKey));
  });

  it('refuses an epoch key that is not 32 bytes as invalid_length', () => {
    const device = generateDeviceKeys();

    const action = () =>
      sealEpochKey({
        conversationId: aUuid(),
        epoch: 1,
        epochKey: new Uint8Array(16),
        recipientBoxPublicKey: device.boxPublicKey,
        creatorSignSecretKey: device.signSecretKey,
      });

    expect(errorCodeOf(action)).toBe('invalid_length');
  });
});

describe('openEpochKey', () => {
  it('returns the epoch key for a trusted member creator', () => {
    const { epochKey, open } = anEnvelope();

    const opened = open();

    expect(opened).toEqual(epochKey);
  });

  it('fails as invalid_length for a missing (empty) signature', () => {
    const { envelope, open } = anEnvelope();

    expect(errorCodeOf(() => open({ envelope: { ...envelope, signature: new Uint8Array(0) } }))).toBe('invalid_length');
  });

  it('fails as bad_signature for a signature by another key', () => {
    const { envelope, ref, recipient, epochKey, open } = anEnvelope();
    const impostor = generateDeviceKeys();
    const forged = sealEpochKey({ ...ref, epochKey, recipientBoxPublicKey: recipient.boxPublicKey, creatorSignSecretKey: impostor.signSecretKey });

    expect(errorCodeOf(() => open({ envelope: { ...envelope, signature: forged.signature } }))).toBe('bad_signature');
    expect(errorCodeOf(() => open({ envelope: forged }))).toBe('bad_signature');
  });

  it('fails as not_member when the creator is not a member at this epoch', () => {
    const { open } = anEnvelope();

    expect(errorCodeOf(() => open({ creator: { isMember: false } }))).toBe('not_member');
  });

  it('fails as untrusted_creator when the creator does not chain to a trust anchor', () => {
    const { open } = anEnvelope();

    expect(errorCodeOf(() => open({ creator: { isTrusted: false } }))).toBe('untrusted_creator');
  });

  it('fails as untrusted_creator when untyped code leaves the trust flag out', () => {
    const { open } = anEnvelope();

    expect(errorCodeOf(() => open({ creator: { isTrusted: undefined as unknown as boolean } }))).toBe('untrusted_creator');
  });

  it.each([
    ['another conversation', { conversationId: aUuid() }],
    ['another epoch', { epoch: 3 }],
  ])('fails as bad_signature when presented for %s', (_case, change) => {
    const { open } = anEnvelope();

    expect(errorCodeOf(() => open(change))).toBe('bad_signature');
  });

  it('fails as bad_signature when the sealed key is altered', () => {
    const { envelope, open } = anEnvelope();

    expect(errorCodeOf(() => open({ envelope: { ...envelope, sealedKey: flipped(envelope.sealedKey, 50) } }))).toBe('bad_signature');
  });

  it('fails as key_mismatch when opened by a key it was not sealed to', () => {
    const { ref, envelope, creator } = anEnvelope();

    const action = () =>
      openEpochKey({ ...ref, envelope, recipient: generateDeviceKeys(), creator: { signPublicKey: creator.signPublicKey, isTrusted: true, isMember: true } });

    expect(errorCodeOf(action)).toBe('key_mismatch');
  });

  it('refuses a 79-byte sealed key as invalid_length', () => {
    const { envelope, open } = anEnvelope();

    expect(errorCodeOf(() => open({ envelope: { ...envelope, sealedKey: envelope.sealedKey.subarray(1) } }))).toBe('invalid_length');
  });
});

describe('envelopeSignedBytes', () => {
  it('lets a verifier without secrets check the signature with plain libsodium', () => {
    const { ref, envelope, creator } = anEnvelope();

    const signed = envelopeSignedBytes(ref, envelope);

    expect(sodium.crypto_sign_verify_detached(envelope.signature, signed, creator.signPublicKey)).toBe(true);
    expect(errorCodeOf(() => verifyEnvelopeSignature(ref, envelope, creator.signPublicKey))).toBe('no error');
  });

  it('starts with the domain prefix and ends with BLAKE2b-256 of the sealed key', () => {
    const { ref, envelope } = anEnvelope();

    const signed = envelopeSignedBytes(ref, envelope);

    expect(Buffer.from(signed.subarray(0, 14)).toString()).toBe('parley/v1/ckey');
    expect(signed.subarray(-32)).toEqual(sodium.crypto_generichash(32, envelope.sealedKey, null));
    expect(signed).toHaveLength(14 + 4 + 16 + 4 + 16 + 32);
  });
});
