// Receiving-side checks of docs/crypto.md ("Receiving"): de-duplicate by (sender_device_id, client_msg_id), refuse a
// sender_device_seq already seen for (device, conversation) (Megolm's replay lesson), flag gaps.
// The server can withhold, delay, reorder or replay; these checks are how a client notices.
import { normalizeUuid, toU64 } from './bytes.js';
import { CryptoError } from './crypto-error.js';
import type { MessageHeader } from './messages.js';

/** An inclusive range of sender sequence numbers not received yet. */
export interface SeqGap {
  from: bigint;
  to: bigint;
}

/** The header fields the guard looks at. */
export type ReceivedMessage = Pick<MessageHeader, 'conversationId' | 'senderDeviceId' | 'senderDeviceSeq' | 'clientMsgId'>;

/** A JSON-safe copy of a guard's memory, for persisting it between sessions (u64s as decimal strings). */
export interface ReceiveGuardState {
  clientMsgIds: string[];
  streams: { conversationId: string; senderDeviceId: string; highest: string; missing: [string, string][] }[];
}

interface Stream {
  highest: bigint;
  missing: SeqGap[];
}

/**
 * Remembers which messages a device has accepted; call accept() only after decryptMessage succeeded,
 * so forged headers cannot poison it.
 */
export class ReceiveGuard {
  private readonly clientMsgIds = new Set<string>();
  private readonly streams = new Map<string, Stream>();

  /**
   * Records a decrypted message and returns the sequence gap it reveals, if any (sequences count from 1).
   * @throws CryptoError `duplicate` (same sender device and client message id), `replayed` (sequence already seen), `invalid_input`
   */
  accept(message: ReceivedMessage): { gap: SeqGap | null } {
    const deviceId = normalizeUuid(message.senderDeviceId, 'senderDeviceId');
    const dedupKey = `${deviceId}/${normalizeUuid(message.clientMsgId, 'clientMsgId')}`;
    const streamKey = `${normalizeUuid(message.conversationId, 'conversationId')}/${deviceId}`;
    const seq = toU64(message.senderDeviceSeq, 'senderDeviceSeq');
    if (seq < 1n) throw new CryptoError('invalid_input', 'senderDeviceSeq counts from 1');
    if (this.clientMsgIds.has(dedupKey)) throw new CryptoError('duplicate', 'message already received');
    const stream = this.streams.get(streamKey) ?? { highest: 0n, missing: [] };

    let gap: SeqGap | null = null;
    if (seq > stream.highest) {
      if (seq > stream.highest + 1n) {
        gap = { from: stream.highest + 1n, to: seq - 1n };
        stream.missing.push(gap);
      }
      stream.highest = seq;
    } else {
      const index = stream.missing.findIndex((range) => range.from <= seq && seq <= range.to);
      const range = stream.missing[index];
      if (range === undefined) throw new CryptoError('replayed', 'sender sequence number already seen');
      // A late message fills its place in a gap: split the range around it.
      const rest: SeqGap[] = [];
      if (range.from < seq) rest.push({ from: range.from, to: seq - 1n });
      if (seq < range.to) rest.push({ from: seq + 1n, to: range.to });
      stream.missing.splice(index, 1, ...rest);
    }
    this.clientMsgIds.add(dedupKey);
    this.streams.set(streamKey, stream);
    return { gap: gap === null ? null : { ...gap } };
  }

  /**
   * Lists the sequence ranges still missing from one sender device in one conversation.
   * @throws CryptoError `invalid_input`
   */
  missing(conversationId: string, senderDeviceId: string): SeqGap[] {
    const key = `${normalizeUuid(conversationId, 'conversationId')}/${normalizeUuid(senderDeviceId, 'senderDeviceId')}`;
    return (this.streams.get(key)?.missing ?? []).map((range) => ({ ...range }));
  }

  /** Returns the guard's memory as JSON-safe data. */
  toState(): ReceiveGuardState {
    return {
      clientMsgIds: [...this.clientMsgIds],
      streams: [...this.streams].map(([key, stream]) => {
        const [conversationId = '', senderDeviceId = ''] = key.split('/');
        return {
          conversationId,
          senderDeviceId,
          highest: stream.highest.toString(),
          missing: stream.missing.map((range): [string, string] => [range.from.toString(), range.to.toString()]),
        };
      }),
    };
  }

  /**
   * Rebuilds a guard from toState()'s output.
   * @throws CryptoError `invalid_input`
   */
  static fromState(state: ReceiveGuardState): ReceiveGuard {
    const guard = new ReceiveGuard();
    try {
      for (const key of state.clientMsgIds) {
        const [deviceId = '', clientMsgId = ''] = key.split('/');
        guard.clientMsgIds.add(`${normalizeUuid(deviceId, 'senderDeviceId')}/${normalizeUuid(clientMsgId, 'clientMsgId')}`);
      }
      for (const stream of state.streams) {
        const key = `${normalizeUuid(stream.conversationId, 'conversationId')}/${normalizeUuid(stream.senderDeviceId, 'senderDeviceId')}`;
        guard.streams.set(key, {
          highest: toU64(BigInt(stream.highest), 'highest'),
          missing: stream.missing.map(([from, to]) => ({ from: toU64(BigInt(from), 'from'), to: toU64(BigInt(to), 'to') })),
        });
      }
    } catch (error) {
      if (error instanceof CryptoError) throw error;
      throw new CryptoError('invalid_input', 'receive guard state is malformed');
    }
    return guard;
  }
}
