import { createHash } from 'node:crypto';
import { isoTime } from '../common/iso-time.js';

/** The fields of a record entry that its hash covers: all of them but the hashes themselves. */
export interface ChainedFields {
  conversationId: string;
  seq: number;
  createdAt: Date;
  message?: {
    epoch: number;
    senderUserId: string;
    senderDeviceId: string;
    senderRole: string;
    senderDeviceSeq: number;
    clientMessageId: string;
    contentType: string;
    ciphertext: Buffer;
    nonce: Buffer;
  };
  system?: { event: string; data: Record<string, unknown> };
}

const DOMAIN = 'parley/v1/record';

/** The chain's starting point for one conversation: SHA-256("parley/v1/genesis" ‖ id). */
export function genesisHash(conversationId: string): Buffer {
  return createHash('sha256').update('parley/v1/genesis').update(conversationId).digest();
}

/**
 * SHA-256(prev_hash ‖ canonical encoding of the entry). Each field is length-prefixed so no two
 * different entries encode alike; editing, removing, inserting or reordering a row breaks the chain.
 */
export function entryHash(prevHash: Buffer, entry: ChainedFields): Buffer {
  // One buffer, one update: the same bytes as updating field by field (docs/crypto.md), without a dozen small buffers per entry.
  const fields: Field[] = [DOMAIN, entry.conversationId, { u64: entry.seq }, isoTime(entry.createdAt)];
  if (entry.message) {
    const m = entry.message;
    fields.push('message', { u64: m.epoch }, m.senderUserId, m.senderDeviceId, m.senderRole, { u64: m.senderDeviceSeq }, m.clientMessageId);
    fields.push(m.contentType, m.ciphertext, m.nonce);
  } else if (entry.system) {
    fields.push('system', entry.system.event, canonicalJson(entry.system.data));
  }
  return createHash('sha256').update(prevHash).update(encodeFields(fields)).digest();
}

/** JSON with object keys sorted, so the same data always hashes the same. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([key, item]) => `${JSON.stringify(key)}:${canonicalJson(item)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** A hashed field: a string (UTF-8) or bytes, length-prefixed (u32 big-endian); or an unsigned 64-bit big-endian integer. */
type Field = string | Buffer | { u64: number };

/** Where `encodeFields` writes: one buffer, reused (the hash reads it at once), grown when an entry needs more. */
let scratch = Buffer.allocUnsafeSlow(4_096);

/**
 * The fields' bytes, back to back: length prefix then bytes for strings and buffers, eight bytes for integers. A view
 * of `scratch`, valid until the next call.
 */
function encodeFields(fields: readonly Field[]): Buffer {
  let size = 0;
  for (const field of fields) size += typeof field === 'string' ? 4 + Buffer.byteLength(field) : Buffer.isBuffer(field) ? 4 + field.length : 8;
  if (size > scratch.length) scratch = Buffer.allocUnsafeSlow(Math.max(size, scratch.length * 2));
  const out = scratch.subarray(0, size);
  let at = 0;
  for (const field of fields) {
    if (typeof field === 'string') {
      const written = out.write(field, at + 4, 'utf8');
      out.writeUInt32BE(written, at);
      at += 4 + written;
    } else if (Buffer.isBuffer(field)) {
      out.writeUInt32BE(field.length, at);
      field.copy(out, at + 4);
      at += 4 + field.length;
    } else {
      out.writeUInt32BE(Math.floor(field.u64 / 2 ** 32), at);
      out.writeUInt32BE(field.u64 >>> 0, at + 4);
      at += 8;
    }
  }
  return out;
}

export interface ChainBreak {
  conversationId: string;
  seq: number;
  reason: 'hash_mismatch' | 'prev_hash_mismatch' | 'seq_gap' | 'head_mismatch';
}

/** A stored entry as the verifier reads it. */
export interface StoredChainEntry extends ChainedFields {
  prevHash: Buffer;
  hash: Buffer;
}

/**
 * Verifies one conversation's entries (in seq order) against their hashes and the conversation's
 * stored head (`lastSeq`, `lastHash`). Returns the first break, or undefined when the chain holds.
 */
export function verifyChain(conversationId: string, entries: Iterable<StoredChainEntry>, head: { lastSeq: number; lastHash: Buffer }): ChainBreak | undefined {
  let expectedPrev = genesisHash(conversationId);
  let expectedSeq = 1;
  for (const entry of entries) {
    if (entry.seq !== expectedSeq) return { conversationId, seq: expectedSeq, reason: 'seq_gap' };
    if (!entry.prevHash.equals(expectedPrev)) return { conversationId, seq: entry.seq, reason: 'prev_hash_mismatch' };
    const recomputed = entryHash(entry.prevHash, entry);
    if (!recomputed.equals(entry.hash)) return { conversationId, seq: entry.seq, reason: 'hash_mismatch' };
    expectedPrev = entry.hash;
    expectedSeq += 1;
  }
  if (head.lastSeq !== expectedSeq - 1 || !head.lastHash.equals(expectedPrev)) {
    return { conversationId, seq: expectedSeq, reason: 'head_mismatch' };
  }
  return undefined;
}
