import type { RecordEntry } from '@parley/protocol';
import type { StoredEntry } from './record.types.js';

/** A stored entry as the wire carries it. */
export function toRecordEntry(entry: StoredEntry): RecordEntry {
  const base = { conversationId: entry.conversationId, seq: entry.seq, serverTime: entry.createdAt.toISOString(), hash: entry.hash.toString('hex') };
  if (entry.system) return { ...base, kind: 'system', system: entry.system };
  const m = entry.message!;
  return {
    ...base,
    kind: 'message',
    message: { ...m, ciphertext: m.ciphertext.toString('base64'), nonce: m.nonce.toString('base64') },
  };
}
