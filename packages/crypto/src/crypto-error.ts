/** The closed set of reasons a `@parley/crypto` function can fail. */
export const CRYPTO_ERROR_CODES = [
  'not_ready', // ready() has not resolved yet
  'missing_primitive', // the loaded libsodium build lacks a function this package needs
  'invalid_length', // a binary input has the wrong size
  'invalid_input', // a non-binary input is malformed (a UUID, an epoch, KDF parameters above the cap…)
  'invalid_encoding', // base64 or a serialized structure does not parse
  'weak_kdf_params', // Argon2id parameters below the production minimum, without the test-only flag
  'decrypt_failed', // authenticated decryption or unsealing failed
  'bad_signature', // a signature does not verify
  'bad_certificate', // a certificate's signature does not verify against its issuer
  'key_mismatch', // a key or key id differs from the one expected
  'not_member', // an envelope's creator is not a member of the conversation at that epoch
  'untrusted_creator', // an envelope's creator does not chain to the PAK or the practice root key
  'replayed', // a sender sequence number was already seen
  'duplicate', // a (sender device, client message id) pair was already seen
  'wrong_passphrase', // the backup blob does not open with the derived backup key
] as const;

/** One of {@link CRYPTO_ERROR_CODES}. */
export type CryptoErrorCode = (typeof CRYPTO_ERROR_CODES)[number];

/**
 * The only error type this package throws; `code` is what callers branch on.
 * Messages name the field that failed, never key material or plaintext.
 */
export class CryptoError extends Error {
  override readonly name = 'CryptoError';

  constructor(
    readonly code: CryptoErrorCode,
    message: string = code,
  ) {
    super(message);
  }
}
