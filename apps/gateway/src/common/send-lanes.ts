import { Injectable } from '@nestjs/common';
import { Clock } from './clock.js';
import { asDomainError, DomainError } from './domain-error.js';

/**
 * Called by a send right before it queues its entry (synchronously, in the same tick): the next send of its lane may
 * go ahead. It throws `rate_limited` instead when an earlier send of the lane failed meanwhile.
 */
export type Admit = () => void;

/** What identifies a send within its lane, read from its payload (absent when the payload is malformed). */
export interface SendIdentity {
  clientMessageId: string;
  senderDeviceSeq: number;
}

/**
 * How long a lane holds later sends for the resend of one that failed; then it lets them through. A device that keeps
 * sending but not that one has it stored already (through another copy), gave it up, or resends through another node.
 */
export const OWED_TTL_MS = 10_000;
/** Client message ids a lane remembers as admitted: a refused copy of one of them is not owed (it is stored, or on its way). */
const RECENT_ADMITTED = 16;
/** The most lanes kept (a lane stays after its sends, for what it admitted); beyond, the oldest idle one is forgotten. */
const MAX_LANES = 10_000;

interface Lane {
  /** Settles once the lane's last send has reached the record's queue, or failed. */
  tail: Promise<void> | undefined;
  /** Sends that failed retryably, which the device must send again before anything later (by sender sequence), with when. */
  owed: (SendIdentity & { since: number })[];
  /** The last RECENT_ADMITTED client message ids admitted. */
  admitted: string[];
}

/**
 * The order of one device's sends in one conversation (docs/protocol.md, "Order"). A client may have many sends in
 * flight; each takes its place in its lane the moment the socket delivers it (synchronously, so in the order received)
 * and waits for the send before it to be handed to the record, which stores its queue in order. The checks in between
 * (session, authorisation, hours) may take different times, so without the lane a later send could overtake.
 *
 * A send that fails for a reason a client retries (`rate_limited`, `internal`) before reaching the record — in the
 * handler, or refused by the flood limit before it (`refused`) — is owed: until the device sends it again, its later
 * sends are refused `rate_limited` too (and owed in turn), so none is stored ahead of it; the resends are taken in
 * sender-sequence order. A send refused for good (`forbidden`, `conflict`, `invalid_payload`, …) holds nothing back.
 * A send of a lower sequence than the first owed one goes through (a copy of a stored message is answered as a
 * duplicate; one lost on the way is stored in its place). A lane forgets an owed send after OWED_TTL_MS.
 */
@Injectable()
export class SendLanes {
  private readonly lanes = new Map<string, Lane>();

  constructor(private readonly clock: Clock) {}

  /** Lanes with a send under way or a resend owed (for tests and metrics). */
  get size(): number {
    let busy = 0;
    for (const lane of this.lanes.values()) if (lane.tail || lane.owed.length > 0) busy += 1;
    return busy;
  }

  /** The lane of a device's sends in a conversation. */
  static key(deviceId: string, conversationId: string): string {
    return `${deviceId}/${conversationId}`;
  }

  /** Reads a send's identity from its unvalidated payload (validation comes later, in order). */
  static identityOf(payload: unknown): SendIdentity | undefined {
    const { clientMessageId, senderDeviceSeq } = (payload ?? {}) as { clientMessageId?: unknown; senderDeviceSeq?: unknown };
    return typeof clientMessageId === 'string' && typeof senderDeviceSeq === 'number' ? { clientMessageId, senderDeviceSeq } : undefined;
  }

  /** A send refused before it reached its lane (the flood limit): the device owes it, like one that failed in the lane. */
  refused(key: string, identity: SendIdentity | undefined): void {
    const lane = this.laneOf(key);
    // A copy of a send admitted already (an outbox's retry racing its ack) is stored, or fails and is owed by its own run.
    if (identity && !lane.admitted.includes(identity.clientMessageId)) this.owe(lane, identity);
    this.forgetIfIdle(key);
  }

  /** A send whose entry failed after it was admitted (its record batch failed): owed, told before its caller hears of it. */
  failed(key: string, identity: SendIdentity): void {
    this.owe(this.laneOf(key), identity);
  }

  /** Runs `work` in `key`'s lane, after the sends that entered it before; `work` calls `admit` right before it queues its entry. */
  async run<T>(key: string, identity: SendIdentity | undefined, work: (admit: Admit) => Promise<T>): Promise<T> {
    const lane = this.laneOf(key);
    const previous = lane.tail;
    let settle!: () => void;
    const settled = new Promise<void>((resolve) => (settle = resolve));
    lane.tail = settled;
    try {
      if (previous) await previous;
      this.takeTurn(lane, identity);
      const admit = () => {
        // An earlier send of the lane may have failed since this one took its turn (its batch, after it was queued).
        if (identity && lane.owed.some((owed) => owed.senderDeviceSeq < identity.senderDeviceSeq)) throw outOfTurn();
        if (identity) {
          lane.admitted.push(identity.clientMessageId);
          if (lane.admitted.length > RECENT_ADMITTED) lane.admitted.shift();
        }
        settle();
      };
      const result = await work(admit);
      settle();
      return result;
    } catch (error) {
      if (isRetryable(error) && identity) this.owe(lane, identity);
      settle();
      throw error;
    } finally {
      if (lane.tail === settled) lane.tail = undefined;
      this.forgetIfIdle(key);
    }
  }

  /** Lets a send through unless the lane is owed an earlier one; an owed send goes only as the lowest still owed. */
  private takeTurn(lane: Lane, identity: SendIdentity | undefined): void {
    if (lane.owed.length === 0) return;
    const now = this.clock.now().getTime();
    while (lane.owed.length > 0 && now - lane.owed[0]!.since > OWED_TTL_MS) lane.owed.shift();
    if (lane.owed.length === 0 || !identity) return; // a malformed payload goes on to be refused as such
    const first = lane.owed[0]!;
    if (identity.clientMessageId === first.clientMessageId) {
      lane.owed.shift();
      return;
    }
    if (identity.senderDeviceSeq < first.senderDeviceSeq) return;
    throw outOfTurn();
  }

  private owe(lane: Lane, identity: SendIdentity): void {
    if (lane.owed.some((owed) => owed.clientMessageId === identity.clientMessageId)) return;
    lane.owed.push({ clientMessageId: identity.clientMessageId, senderDeviceSeq: identity.senderDeviceSeq, since: this.clock.now().getTime() });
    lane.owed.sort((a, b) => a.senderDeviceSeq - b.senderDeviceSeq);
  }

  private laneOf(key: string): Lane {
    let lane = this.lanes.get(key);
    if (!lane) {
      lane = { tail: undefined, owed: [], admitted: [] };
      this.lanes.set(key, lane);
      if (this.lanes.size > MAX_LANES) this.forgetOldest();
    }
    return lane;
  }

  private forgetIfIdle(key: string): void {
    const lane = this.lanes.get(key);
    if (lane && !lane.tail && lane.owed.length === 0 && lane.admitted.length === 0) this.lanes.delete(key);
  }

  /** Drops the oldest lane with no send under way. */
  private forgetOldest(): void {
    for (const [key, lane] of this.lanes) {
      if (!lane.tail) {
        this.lanes.delete(key);
        return;
      }
    }
  }
}

const outOfTurn = () => new DomainError('rate_limited', 'An earlier message of yours was not stored; send them again in order.');

/** Whether a client sends the same message again after this failure (it keeps its place in the client's outbox). */
function isRetryable(error: unknown): boolean {
  const code = asDomainError(error)?.code ?? 'internal';
  return code === 'rate_limited' || code === 'internal';
}
