// The only module that imports libsodium. Everything else calls these thin wrappers, which take
// and return Uint8Array, turn libsodium's exceptions into CryptoError and never leak its types.
import sodium from 'libsodium-wrappers-sumo';
import { CryptoError } from './crypto-error.js';

/**
 * Every libsodium function this package calls. The standard (non-sumo) build declares
 * crypto_pwhash in its types but lacks it at run time, so ready() checks each one exists.
 */
export const REQUIRED_PRIMITIVES = [
  'crypto_aead_xchacha20poly1305_ietf_decrypt',
  'crypto_aead_xchacha20poly1305_ietf_encrypt',
  'crypto_aead_xchacha20poly1305_ietf_keygen',
  'crypto_box_seal',
  'crypto_box_seal_open',
  'crypto_box_seed_keypair',
  'crypto_generichash',
  'crypto_generichash_final',
  'crypto_generichash_init',
  'crypto_generichash_update',
  'crypto_kdf_derive_from_key',
  'crypto_pwhash',
  'crypto_scalarmult_base',
  'crypto_secretstream_xchacha20poly1305_init_pull',
  'crypto_secretstream_xchacha20poly1305_init_push',
  'crypto_secretstream_xchacha20poly1305_keygen',
  'crypto_secretstream_xchacha20poly1305_pull',
  'crypto_secretstream_xchacha20poly1305_push',
  'crypto_sign_detached',
  'crypto_sign_seed_keypair',
  'crypto_sign_verify_detached',
  'from_base64',
  'memcmp',
  'memzero',
  'pad',
  'randombytes_buf',
  'randombytes_uniform',
  'to_base64',
  'unpad',
] as const;

let readyPromise: Promise<void> | undefined;
let isReady = false;

/**
 * Loads libsodium and checks that every primitive the package uses is present; call once before anything else.
 * @throws CryptoError `missing_primitive`
 */
export function ready(): Promise<void> {
  readyPromise ??= sodium.ready.then(() => {
    assertPrimitives(sodium as unknown as Record<string, unknown>);
    if (sodium.crypto_pwhash_ALG_ARGON2ID13 !== ARGON2ID13) {
      throw new CryptoError('missing_primitive', 'libsodium has an unexpected Argon2id13 identifier');
    }
    isReady = true;
  });
  return readyPromise;
}

/** Throws if `library` lacks one of REQUIRED_PRIMITIVES; exported for the self-test's own test. */
export function assertPrimitives(library: Record<string, unknown>): void {
  const missing = REQUIRED_PRIMITIVES.filter((name) => typeof library[name] !== 'function');
  if (missing.length > 0) {
    throw new CryptoError('missing_primitive', `libsodium lacks ${missing.join(', ')}: use libsodium-wrappers-sumo, not libsodium-wrappers`);
  }
}

function lib(): typeof sodium {
  if (!isReady) throw new CryptoError('not_ready', 'await ready() before using @parley/crypto');
  return sodium;
}

/** libsodium's crypto_pwhash_ALG_ARGON2ID13; a wire constant in the backup header. */
export const ARGON2ID13 = 2;
export const PWHASH_OPSLIMIT_MIN = 1;
export const PWHASH_MEMLIMIT_MIN = 8192;

export function randomBytes(length: number): Uint8Array {
  return lib().randombytes_buf(length);
}

/** A uniform random integer in [0, upperBound). */
export function randomUniform(upperBound: number): number {
  return lib().randombytes_uniform(upperBound);
}

/** Unkeyed BLAKE2b (crypto_generichash). */
export function blake2b(length: number, message: Uint8Array): Uint8Array {
  return lib().crypto_generichash(length, message, null);
}

/** Unkeyed BLAKE2b of the concatenation of `parts`, fed one at a time (a large file never needs a second copy in libsodium's heap). */
export function blake2bParts(length: number, parts: Iterable<Uint8Array>): Uint8Array {
  const library = lib();
  const state = library.crypto_generichash_init(null, length);
  for (const part of parts) library.crypto_generichash_update(state, part);
  return library.crypto_generichash_final(state, length);
}

export function signDetached(message: Uint8Array, signSecretKey: Uint8Array): Uint8Array {
  return lib().crypto_sign_detached(message, signSecretKey);
}

export function verifyDetached(signature: Uint8Array, message: Uint8Array, signPublicKey: Uint8Array): boolean {
  try {
    return lib().crypto_sign_verify_detached(signature, message, signPublicKey);
  } catch (error) {
    if (error instanceof CryptoError) throw error;
    return false;
  }
}

export function signSeedKeyPair(seed: Uint8Array): { publicKey: Uint8Array; secretKey: Uint8Array } {
  const pair = lib().crypto_sign_seed_keypair(seed);
  return { publicKey: pair.publicKey, secretKey: pair.privateKey };
}

export function boxSeedKeyPair(seed: Uint8Array): { publicKey: Uint8Array; secretKey: Uint8Array } {
  const pair = lib().crypto_box_seed_keypair(seed);
  return { publicKey: pair.publicKey, secretKey: pair.privateKey };
}

export function boxPublicFromSecret(boxSecretKey: Uint8Array): Uint8Array {
  return lib().crypto_scalarmult_base(boxSecretKey);
}

export function sealTo(message: Uint8Array, boxPublicKey: Uint8Array): Uint8Array {
  return lib().crypto_box_seal(message, boxPublicKey);
}

/** Opens a sealed box, or returns null when it does not open with this key pair. */
export function openSealed(sealed: Uint8Array, boxPublicKey: Uint8Array, boxSecretKey: Uint8Array): Uint8Array | null {
  try {
    return lib().crypto_box_seal_open(sealed, boxPublicKey, boxSecretKey);
  } catch (error) {
    if (error instanceof CryptoError) throw error;
    return null;
  }
}

export function aeadKeygen(): Uint8Array {
  return lib().crypto_aead_xchacha20poly1305_ietf_keygen();
}

export function aeadEncrypt(plaintext: Uint8Array, ad: Uint8Array, nonce: Uint8Array, key: Uint8Array): Uint8Array {
  return lib().crypto_aead_xchacha20poly1305_ietf_encrypt(plaintext, ad, null, nonce, key);
}

/** XChaCha20-Poly1305-IETF decryption, or null when the tag does not verify. */
export function aeadDecrypt(ciphertext: Uint8Array, ad: Uint8Array, nonce: Uint8Array, key: Uint8Array): Uint8Array | null {
  try {
    return lib().crypto_aead_xchacha20poly1305_ietf_decrypt(null, ciphertext, ad, nonce, key);
  } catch (error) {
    if (error instanceof CryptoError) throw error;
    return null;
  }
}

type SodiumState = ReturnType<typeof sodium.crypto_secretstream_xchacha20poly1305_init_pull>;

/** A secretstream's state inside libsodium, opaque to callers (they only pass it back). */
export interface SecretStreamState {
  readonly address: unknown;
}

export function secretstreamKeygen(): Uint8Array {
  return lib().crypto_secretstream_xchacha20poly1305_keygen();
}

/** Starts an encrypting secretstream under `key`: its state and the random 24-byte header the reader needs. */
export function secretstreamInitPush(key: Uint8Array): { state: SecretStreamState; header: Uint8Array } {
  const { state, header } = lib().crypto_secretstream_xchacha20poly1305_init_push(key);
  return { state: { address: state }, header };
}

/** Encrypts the next chunk, tagged TAG_FINAL when `isFinal`, else TAG_MESSAGE. */
export function secretstreamPush(stream: SecretStreamState, chunk: Uint8Array, ad: Uint8Array, isFinal: boolean): Uint8Array {
  const library = lib();
  const tag = isFinal ? library.crypto_secretstream_xchacha20poly1305_TAG_FINAL : library.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE;
  return library.crypto_secretstream_xchacha20poly1305_push(stream.address as SodiumState, chunk, ad, tag);
}

/** Starts a decrypting secretstream, or returns null when the header or key is unusable. */
export function secretstreamInitPull(header: Uint8Array, key: Uint8Array): SecretStreamState | null {
  try {
    return { address: lib().crypto_secretstream_xchacha20poly1305_init_pull(header, key) };
  } catch (error) {
    if (error instanceof CryptoError) throw error;
    return null;
  }
}

/**
 * Decrypts the next chunk: its plaintext and whether it carried TAG_FINAL, or null when it does not authenticate
 * (or carries a tag other than MESSAGE and FINAL, which this format never writes).
 */
export function secretstreamPull(stream: SecretStreamState, chunk: Uint8Array, ad: Uint8Array): { message: Uint8Array; isFinal: boolean } | null {
  const library = lib();
  let result: { message: Uint8Array; tag: number } | false;
  try {
    result = library.crypto_secretstream_xchacha20poly1305_pull(stream.address as SodiumState, chunk, ad);
  } catch (error) {
    if (error instanceof CryptoError) throw error;
    return null;
  }
  if (result === false) return null;
  if (result.tag === library.crypto_secretstream_xchacha20poly1305_TAG_FINAL) return { message: result.message, isFinal: true };
  if (result.tag === library.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE) return { message: result.message, isFinal: false };
  wipe(result.message);
  return null;
}

export function argon2id(length: number, password: Uint8Array, salt: Uint8Array, opsLimit: number, memLimit: number): Uint8Array {
  return lib().crypto_pwhash(length, password, salt, opsLimit, memLimit, ARGON2ID13);
}

export function kdfDerive(length: number, subkeyId: number, context: string, key: Uint8Array): Uint8Array {
  return lib().crypto_kdf_derive_from_key(length, subkeyId, context, key);
}

export function pad(buffer: Uint8Array, blockSize: number): Uint8Array {
  return lib().pad(buffer, blockSize);
}

/** Removes ISO/IEC 7816-4 padding, or returns null when the padding is invalid. */
export function unpad(buffer: Uint8Array, blockSize: number): Uint8Array | null {
  try {
    return lib().unpad(buffer, blockSize);
  } catch (error) {
    if (error instanceof CryptoError) throw error;
    return null;
  }
}

/** Constant-time equality; arrays of different lengths are unequal. */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && lib().memcmp(a, b);
}

/** Overwrites a secret with zeros. JavaScript may still hold copies; this shortens their life. */
export function wipe(secret: Uint8Array): void {
  lib().memzero(secret);
}

/**
 * Encodes bytes as standard base64 with padding, the form the wire protocol carries.
 * @throws CryptoError `not_ready`
 */
export function toBase64(bytes: Uint8Array): string {
  if (!(bytes instanceof Uint8Array)) throw new CryptoError('invalid_input', 'toBase64 takes a Uint8Array');
  return lib().to_base64(bytes, sodium.base64_variants.ORIGINAL);
}

/**
 * Decodes standard base64 with padding; anything else (URL-safe, unpadded, whitespace) is refused.
 * @throws CryptoError `invalid_encoding`, `not_ready`
 */
export function fromBase64(text: string): Uint8Array {
  const library = lib();
  if (typeof text !== 'string') throw new CryptoError('invalid_encoding', 'base64 input must be a string');
  try {
    return library.from_base64(text, sodium.base64_variants.ORIGINAL);
  } catch {
    throw new CryptoError('invalid_encoding', 'input is not standard padded base64');
  }
}
