import { createHash } from 'node:crypto';

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
  const hash = createHash('sha256').update(prevHash).update(lp(DOMAIN)).update(lp(entry.conversationId)).update(u64(entry.seq));
  hash.update(lp(entry.createdAt.toISOString()));
  if (entry.message) {
    const m = entry.message;
    hash.update(lp('message')).update(u64(m.epoch)).update(lp(m.senderUserId)).update(lp(m.senderDeviceId)).update(lp(m.senderRole));
    hash.update(u64(m.senderDeviceSeq)).update(lp(m.clientMessageId)).update(lp(m.contentType)).update(lp(m.ciphertext)).update(lp(m.nonce));
  } else if (entry.system) {
    hash
      .update(lp('system'))
      .update(lp(entry.system.event))
      .update(lp(canonicalJson(entry.system.data)));
  }
  return hash.digest();
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

function lp(value: string | Buffer): Buffer {
  const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
  const length = Buffer.alloc(4);
  length.writeUInt32BE(bytes.length);
  return Buffer.concat([length, bytes]);
}

function u64(value: number): Buffer {
  const bytes = Buffer.alloc(8);
  bytes.writeBigUInt64BE(BigInt(value));
  return bytes;
}

/** Where a chain breaks, if it does. */
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
