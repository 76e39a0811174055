/**
 * The pipelined scenario's verdict (issue #16, "Order"): what one sender's record holds after sending with many sends in
 * flight, random disconnects and an outbox that resends every unacknowledged send with the same id and sequence number.
 * Pure, so that its counting is unit-tested apart from the load (test/pipelined.spec.ts).
 */

/** One stored message of the sender, as `conversation:sync` returns it. */
export interface StoredSend {
  seq: number;
  senderDeviceSeq: number;
  clientMessageId: string;
}

/** What one window's run found, summed over its senders. */
export interface PipelinedCounts {
  /** Stored messages whose senderDeviceSeq is lower than one the same sender had stored earlier (at a lower seq). */
  outOfOrder: number;
  /** Sent (at least once, acknowledged or not) but absent from the record. */
  lost: number;
  /** Of those, how many had been acknowledged: the worst kind of loss. */
  lostAcked: number;
  /** Extra copies: a clientMessageId stored more than once counts once per copy beyond the first. */
  duplicated: number;
}

export const NO_ANOMALIES: PipelinedCounts = { outOfOrder: 0, lost: 0, lostAcked: 0, duplicated: 0 };

/**
 * Counts one sender's anomalies. `stored` is every message of this sender in the conversation (any order: it is sorted
 * by seq here); `sent` the clientMessageIds it sent in the run, `acked` those it received an ok ack for. Messages of the
 * sender that are not in `sent` (earlier runs) are left out.
 */
export function countPipelined(stored: readonly StoredSend[], sent: ReadonlySet<string>, acked: ReadonlySet<string>): PipelinedCounts {
  const ours = stored.filter((entry) => sent.has(entry.clientMessageId)).sort((a, b) => a.seq - b.seq);
  let outOfOrder = 0;
  let highest = -Infinity;
  const copies = new Map<string, number>();
  for (const entry of ours) {
    const seen = copies.get(entry.clientMessageId) ?? 0;
    copies.set(entry.clientMessageId, seen + 1);
    // A duplicate is counted as such, not again as out of order.
    if (seen > 0) continue;
    if (entry.senderDeviceSeq < highest) outOfOrder += 1;
    highest = Math.max(highest, entry.senderDeviceSeq);
  }
  let lost = 0;
  let lostAcked = 0;
  for (const id of sent) {
    if (copies.has(id)) continue;
    lost += 1;
    if (acked.has(id)) lostAcked += 1;
  }
  const duplicated = [...copies.values()].reduce((sum, count) => sum + (count - 1), 0);
  return { outOfOrder, lost, lostAcked, duplicated };
}

/** Sums counts (senders of one window). */
export function addCounts(a: PipelinedCounts, b: PipelinedCounts): PipelinedCounts {
  return { outOfOrder: a.outOfOrder + b.outOfOrder, lost: a.lost + b.lost, lostAcked: a.lostAcked + b.lostAcked, duplicated: a.duplicated + b.duplicated };
}
