import { Injectable, Optional } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { integers, packed, uuids } from '../database/array-parameters.js';
import { begin, isUniqueViolation, isUuid, one, prepared, rows, run, type Db } from '../database/sql.js';
import { FaultPoints } from './fault-points.js';
import { entryHash, genesisHash } from './record-hash.js';
import type { AppendOutcome, NewEntry, NewMessage, NewSystemEvent, StoredEntry } from './record.types.js';

interface Head {
  id: string;
  status: string;
  currentEpoch: number;
  lastSeq: number;
  lastHash: Buffer;
  patientId: string;
}

/** A conversation's chain head, as the append locks it (`last_seq` is a bigint), with its patient for the outcomes. */
interface HeadRow {
  id: string;
  status: string;
  current_epoch: number;
  last_seq: string;
  last_hash: Buffer;
  patient_id: string;
}

/** A stored message's identity and content, as `existingMessages` selects it. */
interface ExistingMessageRow {
  conversation_id: string;
  seq: string;
  sender_device_id: string;
  client_message_id: string;
  sender_device_seq: string;
  epoch: number;
  ciphertext: Buffer;
  nonce: Buffer;
  created_at: Date;
}

/** A `record_entries` row (ENTRY_COLUMNS): the message columns are null on a system entry, the system ones on a message. */
interface EntryRow {
  conversation_id: string;
  seq: string;
  kind: 'message' | 'system';
  epoch: number | null;
  sender_user_id: string | null;
  sender_device_id: string | null;
  sender_role: NewMessage['senderRole'] | null;
  sender_device_seq: string | null;
  client_message_id: string | null;
  content_type: NewMessage['contentType'] | null;
  ciphertext: Buffer | null;
  nonce: Buffer | null;
  system_event: string | null;
  system_data: unknown;
  created_at: Date;
  prev_hash: Buffer;
  hash: Buffer;
}

interface ExistingMessage {
  conversationId: string;
  seq: number;
  senderDeviceId: string;
  clientMessageId: string;
  senderDeviceSeq: number;
  epoch: number;
  ciphertext: Buffer;
  nonce: Buffer;
  createdAt: Date;
}

/** A batch written up to its COMMIT, its transaction open (`RecordRepository.prepareBatch`). */
export interface PreparedBatch {
  /** What each entry will be once committed, in the entries' order. */
  readonly outcomes: AppendOutcome[];
  /** Commits (after the `record.before-commit` fault point) and answers the outcomes. */
  commit(): Promise<AppendOutcome[]>;
  rollback(): Promise<void>;
}

const ENTRY_COLUMNS = `conversation_id, seq, kind, epoch, sender_user_id, sender_device_id, sender_role, sender_device_seq,
  client_message_id, content_type, ciphertext, nonce, system_event, system_data, created_at, prev_hash, hash`;

/** Every query of the record: the batched, chained append, reading entries back, and the chain heads. */
@Injectable()
export class RecordRepository {
  constructor(
    private readonly dataSource: DataSource,
    @Optional() private readonly faults?: FaultPoints,
  ) {}

  /**
   * Appends a batch in ONE transaction (group commit) and commits it; outcomes in the entries' order, after COMMIT.
   * The record writer uses `prepareBatch` instead, to start the next batch while this one commits.
   */
  async appendBatch(entries: readonly NewEntry[]): Promise<AppendOutcome[]> {
    return (await this.prepareBatch(entries)).commit();
  }

  /**
   * Writes a batch up to its COMMIT and leaves the transaction open: locks the conversations' heads in id order (so
   * batches and nodes never deadlock, and a later batch sharing a conversation waits for this one's COMMIT), gives
   * each entry the next sequence number and its chained hash, and inserts the rows and moves the heads in one statement.
   * Three round trips in the common case: BEGIN with the head locks, INSERT with the heads' UPDATE, COMMIT.
   * The head lock is FOR NO KEY UPDATE, as every conversation row lock (routing/assignment-locks.ts): foreign-key checks
   * of receipts, envelopes and uploads being stored do not wait for a batch, nor a batch for them.
   *
   * The retry check is optimistic: the unique indexes on (sender device, client message id) and (conversation,
   * sender device, sender sequence) refuse a repeated message, so a batch without one needs no lookup. On such a
   * refusal the batch is redone with the lookup, which answers `duplicate` (with the original place) or `conflict`.
   */
  async prepareBatch(entries: readonly NewEntry[]): Promise<PreparedBatch> {
    for (let attempt = 0; ; attempt += 1) {
      try {
        return await this.attempt(entries, attempt > 0);
      } catch (error) {
        // A repeated message (a retry, or a race with another node's uncommitted row): redo the whole batch with the
        // lookup — whole, because it may hold an appendAll group, which must stay in one transaction.
        if (!isUniqueViolation(error) || attempt >= 3) throw error;
      }
    }
  }

  /**
   * The first entries of conversations the caller's transaction `db` has just inserted (so holds their rows): chained
   * from each one's genesis and its head moved, in one statement, committed with whatever the caller commits. Entries
   * of a conversation not in `conversations` are `not_found`.
   */
  async appendToNew(db: Db, conversations: readonly { id: string; patientId: string }[], entries: readonly NewEntry[]): Promise<AppendOutcome[]> {
    const heads = conversations.map(({ id, patientId }) => ({
      id,
      status: 'waiting',
      current_epoch: 1,
      last_seq: '0',
      last_hash: genesisHash(id),
      patient_id: patientId,
    }));
    return this.write(db, entries, heads, false);
  }

  private async attempt(entries: readonly NewEntry[], lookUpRepeats: boolean): Promise<PreparedBatch> {
    // Ids that are not UUIDs name no conversation (not_found); the others go into the statement as literals, with BEGIN.
    const conversationIds = [...new Set(entries.map((entry) => entry.conversationId).filter(isUuid))].sort();
    const { transaction, rows: locked } = await begin<HeadRow>(
      this.dataSource,
      `SELECT id, status, current_epoch, last_seq, last_hash, patient_id FROM conversations WHERE id = ANY('{${conversationIds.join(',')}}'::uuid[]) ORDER BY id FOR NO KEY UPDATE`,
    );
    try {
      const outcomes = await this.write(transaction.db, entries, locked, lookUpRepeats);
      return {
        outcomes,
        commit: async () => {
          this.faults?.hit('record.before-commit');
          await transaction.commit();
          return outcomes;
        },
        rollback: () => transaction.rollback(),
      };
    } catch (error) {
      await transaction.rollback();
      throw error;
    }
  }

  private async write(db: Db, entries: readonly NewEntry[], locked: HeadRow[], lookUpRepeats: boolean): Promise<AppendOutcome[]> {
    const heads = new Map<string, Head>(
      locked.map((row) => [
        row.id,
        {
          id: row.id,
          status: row.status,
          currentEpoch: row.current_epoch,
          lastSeq: Number(row.last_seq),
          lastHash: row.last_hash,
          patientId: row.patient_id,
        },
      ]),
    );
    const messages = entries.flatMap((entry) => (entry.message ? [{ conversationId: entry.conversationId, ...entry.message }] : []));
    const byClientId = new Map<string, ExistingMessage>();
    const bySenderSeq = new Set<string>();
    for (const row of lookUpRepeats ? await this.existingMessages(db, messages) : []) {
      byClientId.set(`${row.senderDeviceId}/${row.clientMessageId}`, row);
      bySenderSeq.add(`${row.conversationId}/${row.senderDeviceId}/${row.senderDeviceSeq}`);
    }

    const toInsert: Row[] = [];
    const outcomes: AppendOutcome[] = [];
    const createdAt = new Date();
    for (const entry of entries) {
      const head = heads.get(entry.conversationId);
      if (!head) {
        outcomes.push({ status: 'not_found' });
        continue;
      }
      const message = entry.message;
      if (message) {
        const previous = byClientId.get(`${message.senderDeviceId}/${message.clientMessageId}`);
        if (previous) {
          outcomes.push(
            isSameMessage(previous, entry.conversationId, message)
              ? { status: 'duplicate', seq: previous.seq, createdAt: previous.createdAt }
              : { status: 'conflict' },
          );
          continue;
        }
        if (bySenderSeq.has(`${entry.conversationId}/${message.senderDeviceId}/${message.senderDeviceSeq}`)) {
          outcomes.push({ status: 'conflict' });
          continue;
        }
        if (head.status === 'closed') {
          outcomes.push({ status: 'closed' });
          continue;
        }
        if (message.epoch > head.currentEpoch) {
          outcomes.push({ status: 'unknown_epoch', currentEpoch: head.currentEpoch });
          continue;
        }
        // A new epoch shuts out the old key for new messages (a revoked device or a leaver may still hold it); the head
        // lock orders this check with `conversation:epoch`, which moves current_epoch under the same row lock.
        if (message.epoch < head.currentEpoch) {
          outcomes.push({ status: 'stale_epoch', currentEpoch: head.currentEpoch });
          continue;
        }
      }
      const seq = head.lastSeq + 1;
      const hash = entryHash(head.lastHash, { conversationId: entry.conversationId, seq, createdAt, message, system: entry.system });
      toInsert.push(entryRow(entry, seq, head.lastHash, hash));
      head.lastSeq = seq;
      head.lastHash = hash;
      outcomes.push({ status: 'stored', seq, createdAt, hash, patientId: head.patientId });
      if (message) {
        // A retry of the same send inside this very batch is answered like a retry of a stored one.
        byClientId.set(`${message.senderDeviceId}/${message.clientMessageId}`, { conversationId: entry.conversationId, seq, createdAt, ...message });
        bySenderSeq.add(`${entry.conversationId}/${message.senderDeviceId}/${message.senderDeviceSeq}`);
      }
    }
    if (toInsert.length > 0) await insertAndMoveHeads(db, toInsert, createdAt, [...heads.values()]);
    return outcomes;
  }

  private async existingMessages(db: Db, messages: (NewMessage & { conversationId: string })[]): Promise<ExistingMessage[]> {
    if (messages.length === 0) return [];
    // Two index lookups, not one OR: PostgreSQL answers `(…) IN (…) OR (…) IN (…)` with a scan of the whole record,
    // which grew with every message ever stored (52 ms at 200k rows; docs/benchmarks.md). A row found by both is
    // returned twice, which the caller's maps absorb.
    const columns = `e.conversation_id, e.seq, e.sender_device_id, e.client_message_id, e.sender_device_seq, e.epoch, e.ciphertext, e.nonce, e.created_at`;
    const found = await rows<ExistingMessageRow>(
      db,
      `SELECT ${columns} FROM record_entries e
         JOIN unnest($1::uuid[], $2::uuid[]) AS k(sender_device_id, client_message_id)
           ON e.sender_device_id = k.sender_device_id AND e.client_message_id = k.client_message_id
        WHERE e.kind = 'message'
       UNION ALL
       SELECT ${columns} FROM record_entries e
         JOIN unnest($3::uuid[], $1::uuid[], $4::bigint[]) AS k(conversation_id, sender_device_id, sender_device_seq)
           ON e.conversation_id = k.conversation_id AND e.sender_device_id = k.sender_device_id AND e.sender_device_seq = k.sender_device_seq
        WHERE e.kind = 'message'`,
      [
        messages.map((m) => m.senderDeviceId),
        messages.map((m) => m.clientMessageId),
        messages.map((m) => m.conversationId),
        messages.map((m) => m.senderDeviceSeq),
      ],
    );
    return found.map((row) => ({
      conversationId: row.conversation_id,
      seq: Number(row.seq),
      senderDeviceId: row.sender_device_id,
      clientMessageId: row.client_message_id,
      senderDeviceSeq: Number(row.sender_device_seq),
      epoch: row.epoch,
      ciphertext: row.ciphertext,
      nonce: row.nonce,
      createdAt: row.created_at,
    }));
  }

  /** A stored message's place, found by its sender device and client message id. */
  async findMessage(senderDeviceId: string, clientMessageId: string): Promise<{ seq: number; createdAt: Date } | undefined> {
    const row = await one<{ seq: string; created_at: Date }>(
      this.dataSource,
      `SELECT seq, created_at FROM record_entries WHERE kind = 'message' AND sender_device_id = $1 AND client_message_id = $2`,
      [senderDeviceId, clientMessageId],
    );
    return row ? { seq: Number(row.seq), createdAt: row.created_at } : undefined;
  }

  /** Entries with seq > afterSeq, in order, at most `limit`. */
  async entriesAfter(conversationId: string, afterSeq: number, limit: number): Promise<StoredEntry[]> {
    const entries = await rows<EntryRow>(
      this.dataSource,
      `SELECT ${ENTRY_COLUMNS} FROM record_entries WHERE conversation_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`,
      [conversationId, afterSeq, limit],
    );
    return entries.map(toStoredEntry);
  }

  /** Every conversation's chain head, in pages, for verification. */
  async heads(afterId: string, limit: number): Promise<{ id: string; lastSeq: number; lastHash: Buffer }[]> {
    const found = await rows<Pick<HeadRow, 'id' | 'last_seq' | 'last_hash'>>(
      this.dataSource,
      `SELECT id, last_seq, last_hash FROM conversations WHERE id > $1 ORDER BY id LIMIT $2`,
      [afterId, limit],
    );
    return found.map((row) => ({ id: row.id, lastSeq: Number(row.last_seq), lastHash: row.last_hash }));
  }
}

function isSameMessage(previous: ExistingMessage, conversationId: string, message: NewMessage): boolean {
  return (
    previous.conversationId === conversationId &&
    previous.senderDeviceSeq === message.senderDeviceSeq &&
    previous.epoch === message.epoch &&
    previous.ciphertext.equals(message.ciphertext) &&
    previous.nonce.equals(message.nonce)
  );
}

function entryRow(entry: NewEntry, seq: number, prevHash: Buffer, hash: Buffer): Row {
  const m = entry.message;
  return {
    conversationId: entry.conversationId,
    seq,
    kind: m ? 'message' : 'system',
    epoch: m?.epoch ?? null,
    senderUserId: m?.senderUserId ?? null,
    senderDeviceId: m?.senderDeviceId ?? null,
    senderRole: m?.senderRole ?? null,
    senderDeviceSeq: m?.senderDeviceSeq ?? null,
    clientMessageId: m?.clientMessageId ?? null,
    contentType: m?.contentType ?? null,
    ciphertext: m?.ciphertext ?? null,
    nonce: m?.nonce ?? null,
    systemEvent: entry.system?.event ?? null,
    systemData: entry.system ? JSON.stringify(entry.system.data) : null,
    prevHash,
    hash,
  };
}

/** One `record_entries` row to insert (its `created_at` is the batch's). */
interface Row {
  conversationId: string;
  seq: number;
  kind: 'message' | 'system';
  epoch: number | null;
  senderUserId: string | null;
  senderDeviceId: string | null;
  senderRole: string | null;
  senderDeviceSeq: number | null;
  clientMessageId: string | null;
  contentType: string | null;
  ciphertext: Buffer | null;
  nonce: Buffer | null;
  systemEvent: string | null;
  systemData: string | null;
  prevHash: Buffer;
  hash: Buffer;
}

/** `insertAndMoveHeads`'s statement, prepared: it runs for every batch (sql.ts, `Prepared`). */
const INSERT_AND_MOVE_HEADS = prepared(
  'record.insert-and-move-heads',
  `WITH inserted AS (
     INSERT INTO record_entries (${ENTRY_COLUMNS})
     SELECT u.conversation_id, u.seq, u.kind, u.epoch, u.sender_user_id, u.sender_device_id, u.sender_role, u.sender_device_seq,
            u.client_message_id, u.content_type, substring($11::bytea FROM u.c_at FOR u.c_len), substring($14::bytea FROM u.n_at FOR u.n_len),
            u.system_event, u.system_data, $27::timestamptz, substring($17::bytea FROM u.p_at FOR u.p_len), substring($20::bytea FROM u.h_at FOR u.h_len)
       FROM unnest($1::uuid[], $2::bigint[], $3::text[], $4::int[], $5::uuid[], $6::uuid[], $7::text[], $8::bigint[], $9::uuid[], $10::text[],
                   $12::int[], $13::int[], $15::int[], $16::int[], $18::int[], $19::int[], $21::int[], $22::int[], $23::text[], $24::text[]::jsonb[])
         AS u(conversation_id, seq, kind, epoch, sender_user_id, sender_device_id, sender_role, sender_device_seq, client_message_id, content_type,
              c_at, c_len, n_at, n_len, p_at, p_len, h_at, h_len, system_event, system_data))
   UPDATE conversations c SET last_seq = v.last_seq, last_hash = substring($28::bytea FROM v.at FOR v.len)
     FROM unnest($25::uuid[], $26::bigint[], $29::int[], $30::int[]) AS v(id, last_seq, at, len) WHERE c.id = v.id`,
);

/**
 * One statement for the whole batch: the INSERT (one parameter per column, unnested into rows) in a data-modifying
 * CTE, and the UPDATE that moves the heads to their last entry.
 *
 * The parameters are written for the least work on both sides, as this runs for every message (`array-parameters.ts`):
 * each bytea column is one binary parameter cut apart in SQL, the UUID and number columns are array literals, the
 * batch's time is one value. The text and jsonb columns go as pg writes arrays.
 */
async function insertAndMoveHeads(db: Db, entries: Row[], createdAt: Date, heads: Head[]): Promise<void> {
  const ciphertext = packed(entries.map((row) => row.ciphertext));
  const nonce = packed(entries.map((row) => row.nonce));
  const prevHash = packed(entries.map((row) => row.prevHash));
  const hash = packed(entries.map((row) => row.hash));
  const lastHash = packed(heads.map((head) => head.lastHash));
  await run(db, INSERT_AND_MOVE_HEADS, [
    uuids(entries.map((row) => row.conversationId)),
    integers(entries.map((row) => row.seq)),
    entries.map((row) => row.kind),
    integers(entries.map((row) => row.epoch)),
    uuids(entries.map((row) => row.senderUserId)),
    uuids(entries.map((row) => row.senderDeviceId)),
    entries.map((row) => row.senderRole),
    integers(entries.map((row) => row.senderDeviceSeq)),
    uuids(entries.map((row) => row.clientMessageId)),
    entries.map((row) => row.contentType),
    ...ciphertext,
    ...nonce,
    ...prevHash,
    ...hash,
    entries.map((row) => row.systemEvent),
    entries.map((row) => row.systemData),
    uuids(heads.map((head) => head.id)),
    integers(heads.map((head) => head.lastSeq)),
    createdAt,
    ...lastHash,
  ]);
}

function toStoredEntry(row: EntryRow): StoredEntry {
  const base = { conversationId: row.conversation_id, seq: Number(row.seq), createdAt: row.created_at, prevHash: row.prev_hash, hash: row.hash };
  if (row.kind === 'system') {
    // Only append() writes the table, from a type-checked NewSystemEvent: the row holds one of the protocol's events.
    return { ...base, system: { event: row.system_event, data: row.system_data } as NewSystemEvent };
  }
  // A message row has every message column (the table's CHECK constraint).
  return {
    ...base,
    message: {
      epoch: row.epoch!,
      senderUserId: row.sender_user_id!,
      senderDeviceId: row.sender_device_id!,
      senderRole: row.sender_role!,
      senderDeviceSeq: Number(row.sender_device_seq),
      clientMessageId: row.client_message_id!,
      contentType: row.content_type!,
      ciphertext: row.ciphertext!,
      nonce: row.nonce!,
    },
  };
}
