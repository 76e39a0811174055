import { Injectable } from '@nestjs/common';
import * as argon2 from 'argon2';

// OWASP's Argon2id minimum (19 MiB, 2 passes). The auth key is already the output of the client's
// Argon2id over the passphrase (≥ 3 passes, 64 MiB), which dominates a thief's guessing cost; this
// hash makes a stolen database useless for signing in and adds to that cost.
const HASH_OPTIONS = { type: argon2.argon2id, memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;

/**
 * Hashes and checks the client-derived auth key with Argon2id (the `$argon2id$…` PHC string, the
 * format of libsodium's crypto_pwhash_str). The `argon2` package runs on libuv's thread pool, off the
 * event loop, so a sign-in does not stall the sockets.
 */
@Injectable()
export class AuthKeyHasher {
  private dummyHash: Promise<string> | undefined;

  /** The PHC string to store for an auth key. */
  hash(authKey: Uint8Array): Promise<string> {
    return argon2.hash(Buffer.from(authKey), HASH_OPTIONS);
  }

  /**
   * Whether `authKey` matches `storedHash`. With no stored hash (unknown or inactive account) it
   * still runs one verification, so the answer takes as long and reveals nothing.
   */
  async verify(storedHash: string | null, authKey: Uint8Array): Promise<boolean> {
    if (storedHash === null) {
      this.dummyHash ??= argon2.hash(Buffer.alloc(32), HASH_OPTIONS);
      await argon2.verify(await this.dummyHash, Buffer.from(authKey)).catch(() => false);
      return false;
    }
    return argon2.verify(storedHash, Buffer.from(authKey)).catch(() => false);
  }
}
