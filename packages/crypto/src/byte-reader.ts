// Internal: reads the fixed-width fields of a serialized structure (backup header, message plaintext).
import { CryptoError } from './crypto-error.js';

/** Reads fixed-width fields from a buffer; running past the end throws `code`. */
export class ByteReader {
  private offset = 0;

  constructor(
    private readonly bytes: Uint8Array,
    private readonly code: 'invalid_length' | 'invalid_encoding' | 'decrypt_failed',
  ) {}

  take(length: number): Uint8Array {
    if (this.offset + length > this.bytes.length) throw new CryptoError(this.code, 'input is truncated');
    const out = this.bytes.slice(this.offset, this.offset + length);
    this.offset += length;
    return out;
  }

  u32(): number {
    return new DataView(this.take(4).buffer).getUint32(0, false);
  }

  u64(): bigint {
    return new DataView(this.take(8).buffer).getBigUint64(0, false);
  }

  get remaining(): number {
    return this.bytes.length - this.offset;
  }
}
