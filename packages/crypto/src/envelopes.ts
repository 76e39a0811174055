// Conversation epoch keys CK_{c,e} and their envelopes. CK is 32 random bytes made by the device
// that opens the epoch, sealed to each recipient key (participant devices, the patient's PAK, the
// current PRK_v) and kept on the server only as those sealed envelopes; devices cache the opened copy.
import { ascii, concat, lpUuid, requireBytes, u32 } from './bytes.js';
import { CryptoError } from './crypto-error.js';
import type { BoxKeys } from './keys.js';
import { keyId, KEY_ID_BYTES, PUBLIC_KEY_BYTES, requireCounter, SEALED_KEY_BYTES, SIGN_SECRET_KEY_BYTES, SIGNATURE_BYTES } from './keys.js';
import { aeadKeygen, blake2b, equalBytes, openSealed, sealTo, signDetached, verifyDetached } from './sodium.js';

const CKEY_PREFIX = ascii('parley/v1/ckey');
/** Size of a conversation epoch key (an XChaCha20-Poly1305 key). */
export const EPOCH_KEY_BYTES = 32;

/** Which conversation and epoch an envelope belongs to. */
export interface EpochRef {
  conversationId: string;
  epoch: number;
}

/** CK sealed to one recipient key, signed by the device that opened the epoch. */
export interface EpochEnvelope {
  recipientKeyId: Uint8Array;
  sealedKey: Uint8Array;
  signature: Uint8Array;
}

/** What the caller has established about an envelope's creator before trusting its key. */
export interface EnvelopeCreator {
  signPublicKey: Uint8Array;
  /** The creator's device certificate chains to the patient's PAK or to the practice root key. */
  isTrusted: boolean;
  /** The creator's user is a member of the conversation at this epoch. */
  isMember: boolean;
}

/**
 * Makes a fresh 32-byte conversation epoch key.
 * @throws CryptoError `not_ready`
 */
export function createEpochKey(): Uint8Array {
  return aeadKeygen();
}

/**
 * Seals an epoch key to one recipient box key and signs it with the creating device's key.
 * @throws CryptoError `invalid_length`, `invalid_input`, `not_ready`
 */
export function sealEpochKey(
  input: EpochRef & {
    epochKey: Uint8Array;
    recipientBoxPublicKey: Uint8Array;
    creatorSignSecretKey: Uint8Array;
  },
): EpochEnvelope {
  requireBytes(input.epochKey, EPOCH_KEY_BYTES, 'epochKey');
  requireBytes(input.creatorSignSecretKey, SIGN_SECRET_KEY_BYTES, 'creatorSignSecretKey');
  const recipientKeyId = keyId(input.recipientBoxPublicKey);
  const sealedKey = sealTo(input.epochKey, input.recipientBoxPublicKey);
  return signEnvelope(input, recipientKeyId, sealedKey, input.creatorSignSecretKey);
}

/**
 * Returns the bytes an envelope signature covers, so a verifier without any secret (the server) can check it.
 * @throws CryptoError `invalid_length`, `invalid_input`, `not_ready`
 */
export function envelopeSignedBytes(ref: EpochRef, envelope: Pick<EpochEnvelope, 'recipientKeyId' | 'sealedKey'>): Uint8Array {
  return concat(
    CKEY_PREFIX,
    lpUuid(ref.conversationId, 'conversationId'),
    u32(requireCounter(ref.epoch, 'epoch'), 'epoch'),
    requireBytes(envelope.recipientKeyId, KEY_ID_BYTES, 'recipientKeyId'),
    blake2b(32, requireBytes(envelope.sealedKey, SEALED_KEY_BYTES, 'sealedKey')),
  );
}

/**
 * Checks an envelope's signature against the creator's Ed25519 public key, without opening it.
 * @throws CryptoError `bad_signature`, `invalid_length`, `invalid_input`, `not_ready`
 */
export function verifyEnvelopeSignature(ref: EpochRef, envelope: EpochEnvelope, creatorSignPublicKey: Uint8Array): void {
  requireBytes(envelope.signature, SIGNATURE_BYTES, 'signature');
  requireBytes(creatorSignPublicKey, PUBLIC_KEY_BYTES, 'creatorSignPublicKey');
  if (!verifyDetached(envelope.signature, envelopeSignedBytes(ref, envelope), creatorSignPublicKey)) {
    throw new CryptoError('bad_signature', 'envelope signature does not verify against the creator key');
  }
}

/**
 * Opens an envelope only if its creator is trusted and a member at this epoch and its signature verifies.
 * @throws CryptoError `untrusted_creator`, `not_member`, `bad_signature`, `key_mismatch`, `decrypt_failed`, `invalid_length`, `invalid_input`, `not_ready`
 */
export function openEpochKey(
  input: EpochRef & {
    envelope: EpochEnvelope;
    recipient: BoxKeys;
    creator: EnvelopeCreator;
  },
): Uint8Array {
  const { envelope, recipient, creator } = input;
  // Strict `!== true`: a missing flag from untyped code must refuse, not pass.
  if (creator.isTrusted !== true) throw new CryptoError('untrusted_creator', 'envelope creator does not chain to the PAK or the practice root key');
  if (creator.isMember !== true) throw new CryptoError('not_member', 'envelope creator is not a member at this epoch');
  requireBytes(recipient.boxSecretKey, 32, 'recipient.boxSecretKey');
  verifyEnvelopeSignature(input, envelope, creator.signPublicKey);
  if (!equalBytes(envelope.recipientKeyId, keyId(recipient.boxPublicKey))) {
    throw new CryptoError('key_mismatch', 'envelope is sealed to another key');
  }

  const epochKey = openSealed(envelope.sealedKey, recipient.boxPublicKey, recipient.boxSecretKey);
  if (epochKey === null || epochKey.length !== EPOCH_KEY_BYTES) {
    throw new CryptoError('decrypt_failed', 'envelope does not open with this key');
  }
  return epochKey;
}

/** Signs an already sealed key; internal, so the vector script can re-sign a stored sealed box. */
export function signEnvelope(ref: EpochRef, recipientKeyId: Uint8Array, sealedKey: Uint8Array, creatorSignSecretKey: Uint8Array): EpochEnvelope {
  const signature = signDetached(envelopeSignedBytes(ref, { recipientKeyId, sealedKey }), creatorSignSecretKey);
  return { recipientKeyId, sealedKey, signature };
}
