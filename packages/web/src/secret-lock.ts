import { decodeSecret, encodeSecret } from './secret-codec.js';

/** How a lock key was derived from the user's secret: kept beside the sealed value so the same passphrase derives it again. */
export interface SecretLockKdf {
  salt: Uint8Array;
  opsLimit: number;
  memLimitBytes: number;
}

/** A value sealed by a {@link SecretLock}: AES-256-GCM under a key derived from the user's passphrase. */
export interface LockedSecret {
  kdf: SecretLockKdf;
  iv: Uint8Array;
  ciphertext: Uint8Array;
}

/** The lock key is not the one the value was sealed with (a wrong passphrase), or the sealed value was changed. */
export class WrongSecretError extends Error {
  readonly code = 'wrong_passphrase';

  constructor() {
    super('the sealed value does not open with this key');
    this.name = 'WrongSecretError';
  }
}

const AES_GCM_256 = { name: 'AES-GCM', length: 256 } as const;

/**
 * Seals and opens a value under a key the caller derived from the user's secret (the patient app: Argon2id
 * over the passphrase, in `@parley/sdk`), so what it seals cannot be opened with what the browser keeps
 * alone: not with a copy of IndexedDB, nor with the DeviceVault's wrapping key. The key bytes are imported
 * as a **non-extractable** WebCrypto key and overwritten at once; the lock lives in memory only, while the
 * user has it open, and is dropped on lock and sign-out (docs/crypto.md, "The device lock").
 */
export class SecretLock {
  private constructor(
    private readonly key: CryptoKey,
    /** The salt and cost the key was derived with; sealed values carry them, and they are bound into the ciphertext. */
    readonly kdf: SecretLockKdf,
    private readonly context: string,
  ) {}

  /**
   * Makes a lock from 32 derived key bytes, which are overwritten once imported.
   * @param context what the lock seals (e.g. `patient`), bound into every ciphertext, so a value sealed for one use never opens as another
   * @throws RangeError when `keyBytes` is not 32 bytes
   */
  static async fromKeyBytes(keyBytes: Uint8Array, kdf: SecretLockKdf, context: string): Promise<SecretLock> {
    if (keyBytes.length !== 32) throw new RangeError('a lock key is 32 bytes');
    try {
      const key = await crypto.subtle.importKey('raw', new Uint8Array(keyBytes), AES_GCM_256, false, ['encrypt', 'decrypt']);
      return new SecretLock(key, { salt: kdf.salt.slice(), opsLimit: kdf.opsLimit, memLimitBytes: kdf.memLimitBytes }, context);
    } finally {
      keyBytes.fill(0);
    }
  }

  /** Seals a value made of JSON and byte arrays (see `encodeSecret`) with a fresh random 96-bit IV. */
  async seal(value: unknown): Promise<LockedSecret> {
    const iv = crypto.getRandomValues(new Uint8Array(12));
    const plain = encodeSecret(value);
    try {
      const ciphertext = await crypto.subtle.encrypt({ name: 'AES-GCM', iv, additionalData: this.additionalData(this.kdf) }, this.key, plain);
      return { kdf: { ...this.kdf, salt: this.kdf.salt.slice() }, iv, ciphertext: new Uint8Array(ciphertext) };
    } finally {
      plain.fill(0);
    }
  }

  /**
   * Opens a value this lock (or one derived the same way) sealed.
   * @throws WrongSecretError when the key is not the sealing one (a wrong passphrase) or anything sealed was changed, its salt and cost included
   */
  async open<T>(locked: LockedSecret): Promise<T> {
    let plain: ArrayBuffer;
    try {
      plain = await crypto.subtle.decrypt(
        { name: 'AES-GCM', iv: new Uint8Array(locked.iv), additionalData: this.additionalData(locked.kdf) },
        this.key,
        new Uint8Array(locked.ciphertext),
      );
    } catch {
      throw new WrongSecretError();
    }
    const bytes = new Uint8Array(plain);
    try {
      return decodeSecret<T>(bytes);
    } finally {
      bytes.fill(0);
    }
  }

  /** The context and the derivation's salt and cost: a record whose cost was edited no longer opens, even if the key still matched. */
  private additionalData(kdf: SecretLockKdf): Uint8Array<ArrayBuffer> {
    const salt = Array.from(kdf.salt, (byte) => byte.toString(16).padStart(2, '0')).join('');
    return new TextEncoder().encode(`parley/v1/secret-lock/${this.context}/${salt}/${kdf.opsLimit}/${kdf.memLimitBytes}`);
  }
}

/** Whether a stored value has the shape of a {@link LockedSecret} (a record read back from IndexedDB is not trusted to). */
export function isLockedSecret(value: unknown): value is LockedSecret {
  const candidate = value as Partial<LockedSecret> | null;
  return (
    typeof candidate === 'object' &&
    candidate !== null &&
    candidate.iv instanceof Uint8Array &&
    candidate.ciphertext instanceof Uint8Array &&
    typeof candidate.kdf === 'object' &&
    candidate.kdf !== null &&
    candidate.kdf.salt instanceof Uint8Array &&
    Number.isInteger(candidate.kdf.opsLimit) &&
    Number.isInteger(candidate.kdf.memLimitBytes)
  );
}
