import type { RecordEntry, RecordSystemEvent } from '@parley/protocol';
import type { NewMessage } from './record.types.js';
import { isoTime } from '../common/iso-time.js';

/** An entry's content: a message or a system event. */
interface Content {
  conversationId: string;
  message?: NewMessage;
  system?: RecordSystemEvent;
}

/** Where an entry was stored: its place in the chain. */
interface Place {
  seq: number;
  createdAt: Date;
  hash: Buffer;
}

/**
 * A stored entry as the wire carries it: a row read back (its own place), or an entry just committed with the place the
 * writer gave it (no copy of the entry first: this runs for every relayed message).
 */
export function toRecordEntry(entry: Content, place: Place = entry as Content & Place): RecordEntry {
  const conversationId = entry.conversationId;
  const serverTime = isoTime(place.createdAt);
  const hash = place.hash.toString('hex');
  if (entry.system) return { conversationId, seq: place.seq, serverTime, hash, kind: 'system', system: entry.system };
  const m = entry.message!;
  return {
    conversationId,
    seq: place.seq,
    serverTime,
    hash,
    kind: 'message',
    message: {
      epoch: m.epoch,
      senderUserId: m.senderUserId,
      senderDeviceId: m.senderDeviceId,
      senderRole: m.senderRole,
      senderDeviceSeq: m.senderDeviceSeq,
      clientMessageId: m.clientMessageId,
      contentType: m.contentType,
      ciphertext: m.ciphertext.toString('base64'),
      nonce: m.nonce.toString('base64'),
    },
  };
}
