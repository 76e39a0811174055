// Invitation-bound trust (v2). The staff browser that invites a patient makes the code itself and
// gives it only to the patient (letter, link fragment); the server never sees it. From the code both
// sides derive, with Argon2id, a lookup id (the only thing the server stores to find the invitation)
// and the invitation key V. V signs the practice root key (so the patient pins the root from the
// code alone) and, at activation, the patient's account key. The code and K_inv live only in memory
// while deriving; V's secret key only until the statements it signs are made.
import { ascii, concat, lpText, lpUuid, requireBytes, u64 } from './bytes.js';
import { verifyCertificate } from './certificates.js';
import { CryptoError } from './crypto-error.js';
import type { SigningKeys } from './keys.js';
import { PUBLIC_KEY_BYTES, SEED_BYTES, SIGN_SECRET_KEY_BYTES } from './keys.js';
import type { KdfParams } from './passphrase.js';
import { DEFAULT_KDF_PARAMS, requireKdfParams } from './passphrase.js';
import { argon2id, blake2b, kdfDerive, randomUniform, signDetached, signSeedKeyPair, wipe } from './sodium.js';

/** Crockford's base32 alphabet: no I, L, O or U, so a code read aloud or from paper is hard to mistype. */
export const INVITATION_CODE_ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
/** Symbols in a code: 13 × log2(32) = 65 bits. */
export const INVITATION_CODE_LENGTH = 13;
/**
 * The invitation's fixed Argon2id cost, the production default (3 passes over 64 MiB): every guess at a
 * code from a stored lookup id costs this much, which is what keeps the server from forging the invitation key.
 */
export const INVITATION_KDF_PARAMS: Readonly<KdfParams> = DEFAULT_KDF_PARAMS;

const INVITATION_PREFIX = ascii('parley/v2/invitation');
const INVITATION_ROOT_PREFIX = ascii('parley/v2/invitation-root');
const ACCOUNT_PREFIX = ascii('parley/v2/account');
/** crypto_kdf context splitting K_inv into the lookup id (subkey 1) and V's seed (subkey 2). */
const INVITATION_KDF_CONTEXT = 'parleyiv';
const SALT_BYTES = 16;
const LOOKUP_ID_BYTES = 32;
const CODE_GROUPS = [4, 4, 5] as const;
/** Generous room for separators and spaces around 13 symbols; longer input is refused before any work. */
const MAX_TYPED_CODE_CHARS = 64;
const LOOK_ALIKES: Readonly<Record<string, string>> = { O: '0', I: '1', L: '1' };

/** What a code derives: the server's lookup id and the invitation key V. */
export interface InvitationKeys {
  /** 32 bytes; the server stores it to find the invitation and learns nothing else from it. */
  lookupId: Uint8Array;
  /** The invitation key V, an Ed25519 pair. */
  signKeys: SigningKeys;
}

/** What the inviting staff device signs (S_inv); `expiresAt` is milliseconds since the Unix epoch. */
export interface InvitationFields {
  practiceId: string;
  patientId: string;
  invitationSignPublicKey: Uint8Array;
  expiresAt: number;
}

/** The patient's account key (PAK) public halves, as the invitation key signs them at activation (S_pak). */
export interface AccountKeyFields {
  practiceId: string;
  patientId: string;
  signPublicKey: Uint8Array;
  boxPublicKey: Uint8Array;
}

/**
 * Makes a fresh invitation code: 13 symbols drawn uniformly from Crockford's base32, written `XXXX-XXXX-XXXXX`.
 * @throws CryptoError `not_ready`
 */
export function generateInvitationCode(): string {
  let symbols = '';
  for (let i = 0; i < INVITATION_CODE_LENGTH; i++) {
    // randombytes_uniform has no modulo bias, so each symbol carries exactly 5 bits.
    symbols += INVITATION_CODE_ALPHABET.charAt(randomUniform(INVITATION_CODE_ALPHABET.length));
  }
  return groupCode(symbols);
}

/**
 * Returns the 13 bare symbols of a typed code: upper case, separators and spaces dropped, O read as 0 and I, L as 1.
 * @throws CryptoError `invalid_input`
 */
export function normaliseInvitationCode(code: string): string {
  if (typeof code !== 'string' || code.length > MAX_TYPED_CODE_CHARS) {
    throw new CryptoError('invalid_input', 'not an invitation code');
  }
  // NFKC first so full-width digits and letters from a phone keyboard read as their ASCII forms.
  const symbols = code
    .normalize('NFKC')
    .toUpperCase()
    .replace(/[^\p{L}\p{N}]/gu, '')
    .replace(/[OIL]/g, (letter) => LOOK_ALIKES[letter] ?? letter);
  if (symbols.length !== INVITATION_CODE_LENGTH || [...symbols].some((symbol) => !INVITATION_CODE_ALPHABET.includes(symbol))) {
    throw new CryptoError('invalid_input', 'not an invitation code');
  }
  return symbols;
}

/**
 * Derives the lookup id and the invitation key V from a code and the practice id, with Argon2id at `params`.
 * @throws CryptoError `invalid_input`, `weak_kdf_params`, `not_ready`
 */
export function deriveInvitationKeys(code: string, practiceId: string, params: Readonly<KdfParams> = INVITATION_KDF_PARAMS): InvitationKeys {
  return deriveCodeKeys(code, invitationSalt(practiceId), params);
}

/**
 * Internal: Argon2id of a code under a domain's salt, split into a lookup id and a signing key. Invitations and
 * practice-assisted recoveries (recovery.ts) share it; their salts differ, so one code's keys are unrelated across the two.
 */
export function deriveCodeKeys(code: string, salt: Uint8Array, params: Readonly<KdfParams>): InvitationKeys {
  const checked = requireKdfParams(params);
  const password = ascii(normaliseInvitationCode(code));

  const invitationKey = argon2id(32, password, salt, checked.opsLimit, checked.memLimit);
  const lookupId = kdfDerive(LOOKUP_ID_BYTES, 1, INVITATION_KDF_CONTEXT, invitationKey);
  const seed = kdfDerive(SEED_BYTES, 2, INVITATION_KDF_CONTEXT, invitationKey);
  const pair = signSeedKeyPair(seed);
  wipe(invitationKey);
  wipe(seed);
  wipe(password);
  return { lookupId, signKeys: { signPublicKey: pair.publicKey, signSecretKey: pair.secretKey } };
}

/**
 * Signs S_inv, ("parley/v2/invitation", practice id, patient id, V's public key, expiry), with the inviting staff device's key.
 * @throws CryptoError `invalid_length`, `invalid_input`, `not_ready`
 */
export function signInvitation(fields: InvitationFields, creatorDeviceSignSecretKey: Uint8Array): Uint8Array {
  requireBytes(creatorDeviceSignSecretKey, SIGN_SECRET_KEY_BYTES, 'creatorDeviceSignSecretKey');
  return signDetached(invitationSignedBytes(fields), creatorDeviceSignSecretKey);
}

/**
 * Checks S_inv against the inviting staff device's public key (whose certificate the caller checks against the root).
 * @throws CryptoError `bad_certificate`, `invalid_length`, `invalid_input`, `not_ready`
 */
export function verifyInvitation(fields: InvitationFields, signature: Uint8Array, creatorDeviceSignPublicKey: Uint8Array): void {
  verifyCertificate(invitationSignedBytes(fields), signature, creatorDeviceSignPublicKey);
}

/**
 * Signs S_root, ("parley/v2/invitation-root", practice id, root public key), with the invitation key V.
 * @throws CryptoError `invalid_length`, `invalid_input`, `not_ready`
 */
export function signInvitationRoot(input: { practiceId: string; rootSignPublicKey: Uint8Array }, invitationSignSecretKey: Uint8Array): Uint8Array {
  requireBytes(invitationSignSecretKey, SIGN_SECRET_KEY_BYTES, 'invitationSignSecretKey');
  return signDetached(invitationRootSignedBytes(input), invitationSignSecretKey);
}

/**
 * Checks S_root against V derived from the code: success pins `rootSignPublicKey` as the practice root.
 * @throws CryptoError `bad_certificate`, `invalid_length`, `invalid_input`, `not_ready`
 */
export function verifyInvitationRoot(
  input: { practiceId: string; rootSignPublicKey: Uint8Array },
  signature: Uint8Array,
  invitationSignPublicKey: Uint8Array,
): void {
  verifyCertificate(invitationRootSignedBytes(input), signature, invitationSignPublicKey);
}

/**
 * Signs S_pak, ("parley/v2/account", practice id, patient id, PAK sign pk, PAK box pk), with the invitation key V.
 * @throws CryptoError `invalid_length`, `invalid_input`, `not_ready`
 */
export function signAccountKey(fields: AccountKeyFields, invitationSignSecretKey: Uint8Array): Uint8Array {
  requireBytes(invitationSignSecretKey, SIGN_SECRET_KEY_BYTES, 'invitationSignSecretKey');
  return signDetached(accountKeySignedBytes(fields), invitationSignSecretKey);
}

/**
 * Checks S_pak against the invitation key V (itself vouched for by S_inv).
 * @throws CryptoError `bad_certificate`, `invalid_length`, `invalid_input`, `not_ready`
 */
export function verifyAccountKeySignature(fields: AccountKeyFields, signature: Uint8Array, invitationSignPublicKey: Uint8Array): void {
  verifyCertificate(accountKeySignedBytes(fields), signature, invitationSignPublicKey);
}

/** Writes 13 bare symbols in groups of 4, 4 and 5 joined by dashes. */
function groupCode(symbols: string): string {
  const groups: string[] = [];
  let start = 0;
  for (const size of CODE_GROUPS) {
    groups.push(symbols.slice(start, start + size));
    start += size;
  }
  return groups.join('-');
}

/** Internal (not in index.ts): the Argon2id salt BLAKE2b-128("parley/v2/invitation" ‖ lp(practice_id)), for vectors. */
export function invitationSalt(practiceId: string): Uint8Array {
  return blake2b(SALT_BYTES, concat(INVITATION_PREFIX, lpText(practiceId, 'practiceId')));
}

/** Internal: "parley/v2/invitation" ‖ lp(practice_id) ‖ lp(patient_id) ‖ V.pk ‖ u64(expires_at). */
export function invitationSignedBytes(fields: InvitationFields): Uint8Array {
  return concat(
    INVITATION_PREFIX,
    lpText(fields.practiceId, 'practiceId'),
    lpUuid(fields.patientId, 'patientId'),
    requireBytes(fields.invitationSignPublicKey, PUBLIC_KEY_BYTES, 'invitationSignPublicKey'),
    u64(fields.expiresAt, 'expiresAt'),
  );
}

/** Internal: "parley/v2/invitation-root" ‖ lp(practice_id) ‖ root.pk. */
export function invitationRootSignedBytes(input: { practiceId: string; rootSignPublicKey: Uint8Array }): Uint8Array {
  return concat(INVITATION_ROOT_PREFIX, lpText(input.practiceId, 'practiceId'), requireBytes(input.rootSignPublicKey, PUBLIC_KEY_BYTES, 'rootSignPublicKey'));
}

/** Internal: "parley/v2/account" ‖ lp(practice_id) ‖ lp(patient_id) ‖ sign_pk ‖ box_pk. */
export function accountKeySignedBytes(fields: AccountKeyFields): Uint8Array {
  return concat(
    ACCOUNT_PREFIX,
    lpText(fields.practiceId, 'practiceId'),
    lpUuid(fields.patientId, 'patientId'),
    requireBytes(fields.signPublicKey, PUBLIC_KEY_BYTES, 'signPublicKey'),
    requireBytes(fields.boxPublicKey, PUBLIC_KEY_BYTES, 'boxPublicKey'),
  );
}
