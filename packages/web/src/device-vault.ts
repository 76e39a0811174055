import { decodeSecret, encodeSecret } from './secret-codec.js';
import { STORES, type WebDatabase } from './web-database.js';

/** An encrypted vault record as IndexedDB holds it. */
interface SealedRecord {
  iv: Uint8Array<ArrayBuffer>;
  ciphertext: ArrayBuffer;
}

/** How a vault keeps what it is given. */
export interface VaultSaveOptions {
  /**
   * `true`: encrypted in IndexedDB, so a reload or a restart keeps it.
   * `false` ("don't remember this device", a shared computer): in this page's memory only; any copy stored before is wiped.
   */
  remember: boolean;
}

const AES_GCM = { name: 'AES-GCM', length: 256 } as const;

/**
 * Private key material of this browser (device keys, account keys, session token): encrypted with
 * AES-GCM under a **non-extractable** WebCrypto key that itself lives in IndexedDB (docs/crypto.md,
 * "Keys and who holds what"). Copying the profile's files gives ciphertext and a key handle that cannot be
 * exported; script running in our origin can still use it, which is why the CSP matters.
 * The value may hold JSON and `Uint8Array`s (see {@link encodeSecret}).
 */
export class DeviceVault<T> {
  private memory: T | null = null;
  private remembered = false;

  /**
   * @param db the shared browser database
   * @param slot which vault: one per app and kind of secret (`patient`, `staff`); also bound into the ciphertext
   */
  constructor(
    private readonly db: WebDatabase,
    private readonly slot: string = 'device',
  ) {}

  /** Whether the current value is stored encrypted in IndexedDB (false when memory-only or empty). */
  get isRemembered(): boolean {
    return this.remembered;
  }

  /**
   * The value: from memory when this page saved or loaded it, else decrypted from IndexedDB; null when there is none.
   * A record that no longer decrypts (its wrapping key gone, or tampered with) is wiped and reads as null.
   */
  async load(): Promise<T | null> {
    if (this.memory !== null) return this.memory;
    const [record, key] = await Promise.all([this.db.get<SealedRecord>(STORES.vault, this.slot), this.db.get<CryptoKey>(STORES.wrappingKeys, this.slot)]);
    if (!record || !key) return null;
    try {
      const plain = await crypto.subtle.decrypt({ name: 'AES-GCM', iv: record.iv, additionalData: this.additionalData() }, key, record.ciphertext);
      this.memory = decodeSecret<T>(new Uint8Array(plain));
      this.remembered = true;
      return this.memory;
    } catch {
      await this.forget();
      return null;
    }
  }

  /** Keeps a value: encrypted in IndexedDB (`remember: true`) or in memory only. Rejects when IndexedDB or WebCrypto fail. */
  async save(value: T, options: VaultSaveOptions): Promise<void> {
    this.memory = value;
    if (!options.remember) {
      await this.wipeStored();
      this.remembered = false;
      return;
    }
    const key = await this.wrappingKey();
    const iv = crypto.getRandomValues(new Uint8Array(12));
    const ciphertext = await crypto.subtle.encrypt({ name: 'AES-GCM', iv, additionalData: this.additionalData() }, key, encodeSecret(value));
    await this.db.put(STORES.vault, { iv, ciphertext } satisfies SealedRecord, this.slot);
    this.remembered = true;
  }

  /** Wipes the value from memory and IndexedDB, wrapping key included (sign-out). */
  async forget(): Promise<void> {
    this.memory = null;
    this.remembered = false;
    await this.wipeStored();
  }

  private async wipeStored(): Promise<void> {
    await this.db.delete(STORES.vault, this.slot);
    await this.db.delete(STORES.wrappingKeys, this.slot);
  }

  /** The slot's wrapping key, made once: `extractable: false`, so its bytes can never be read out, only used. */
  private async wrappingKey(): Promise<CryptoKey> {
    const existing = await this.db.get<CryptoKey>(STORES.wrappingKeys, this.slot);
    if (existing) return existing;
    const key = await crypto.subtle.generateKey(AES_GCM, false, ['encrypt', 'decrypt']);
    await this.db.put(STORES.wrappingKeys, key, this.slot);
    return key;
  }

  private additionalData(): Uint8Array<ArrayBuffer> {
    return new TextEncoder().encode(`parley/v1/web-vault/${this.slot}`);
  }
}
