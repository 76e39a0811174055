import { Injectable } from '@nestjs/common';
import type { Envelope, PatientLimitDetails } from '@parley/protocol';
import { DataSource } from 'typeorm';
import { CONVERSATION_COLUMNS, toConversationRow, type ConversationColumnsRow, type ConversationRow } from '../common/conversation-row.js';
import { integers, packed, uuids } from '../database/array-parameters.js';
import { begin, prepared, rows, type Db } from '../database/sql.js';
import { genesisHash } from '../record/record-hash.js';

/** One open: what a group takes, and `ConversationsRepository.create` for one alone (with its own transaction hook). */
export interface OpenInput {
  id: string;
  practiceId: string;
  patientId: string;
  topic: string;
  creatorDeviceId: string;
  envelopes: readonly Envelope[];
  /** Null: no limit. `dayStart` begins the practice's local day, for the daily limit. */
  limits: { maxOpenPerPatient: number | null; maxNewPerPatientPerDay: number | null; dayStart: Date };
  /** Given the patient's active devices among those the envelopes name; throws to refuse them (this open only). */
  devicesAllowed: (activeDeviceIds: ReadonlySet<string>) => void;
}

/** What became of one open of a group: as `ConversationsRepository.create` answers, or the error that refused it alone. */
export type OpenOutcome = { taken: true } | { refusal: PatientLimitDetails } | { conversation: ConversationRow; waitingBefore: number } | { error: unknown };

/** An open of a group that passed its checks, with the practice's waiting count before it. */
export interface AcceptedOpen {
  input: OpenInput;
  waitingBefore: number;
}

/** The state one open's checks need, read under the patients' locks. */
interface OpenStateRow {
  ord: string;
  is_taken: boolean;
  open: number;
  today: number;
  waiting: number;
  active_devices: string[];
}

/** The group's conversations with their envelopes, one statement (`insert`), prepared: every group runs it (sql.ts, `Prepared`). */
const INSERT_OPENS = prepared(
  'opening.insert',
  `WITH c AS (
     INSERT INTO conversations (id, practice_id, patient_id, topic, created_by_device_id, last_hash, created_at, queued_at)
     SELECT v.id, v.practice_id, v.patient_id, v.topic, v.device_id, substring($8::bytea FROM v.h_at FOR v.h_len),
            now() + (v.ord - 1) * interval '1 microsecond', now() + (v.ord - 1) * interval '1 microsecond'
       FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::uuid[], $6::int[], $7::int[]) WITH ORDINALITY
         AS v(id, practice_id, patient_id, topic, device_id, h_at, h_len, ord)
     RETURNING *
   ), envelopes AS (
     INSERT INTO conversation_envelopes (conversation_id, epoch, recipient_kind, recipient_device_id, recipient_user_id,
       recipient_record_version, recipient_key_id, sealed_key, signature, creator_device_id)
     SELECT v.conversation_id, 1, v.kind, v.device_id, v.user_id, v.version, substring($21::bytea FROM v.k_at FOR v.k_len),
            substring($22::bytea FROM v.s_at FOR v.s_len), substring($23::bytea FROM v.g_at FOR v.g_len), v.creator_device_id
       FROM unnest($9::uuid[], $10::text[], $11::uuid[], $12::uuid[], $13::int[], $14::int[], $15::int[], $16::int[], $17::int[],
                   $18::int[], $19::int[], $20::uuid[])
         AS v(conversation_id, kind, device_id, user_id, version, k_at, k_len, s_at, s_len, g_at, g_len, creator_device_id)
   )
   SELECT ${CONVERSATION_COLUMNS} FROM c JOIN practices p ON p.id = c.practice_id`,
);

/**
 * The group open: the opens waiting on a node stored in ONE transaction of three round trips (the caller's audit rows and
 * first record entries sent with the insert), whatever their number
 * (`ConversationsRepository.create` is the same for one open). Every rule of the single open holds per open.
 */
@Injectable()
export class ConversationOpeningRepository {
  constructor(private readonly dataSource: DataSource) {}

  /**
   * Stores a group of opens of DIFFERENT patients in one transaction: the patients' rows are locked first (in id order,
   * so two groups on any nodes, or a group and a single open, queue instead of deadlocking), then one statement reads
   * each open's state (id taken, the patient's open and today's counts, the active devices among those its envelopes
   * name, the practice's waiting count), both in the BEGIN round trip; the opens that pass their checks are inserted with their
   * envelopes in one statement, `inTransaction` writes what must commit with them (their audit rows and first record
   * entries) in the same round trip, and COMMIT. An
   * open refused by its checks is answered alone and nothing of it is stored; the others go on. In the group, each open
   * is queued one microsecond after the one before it, so the queue keeps their arrival order. A failing statement
   * rejects the whole group, nothing stored (the caller may then try each open alone).
   */
  async createGroup(inputs: readonly OpenInput[], inTransaction: (db: Db, accepted: readonly AcceptedOpen[]) => Promise<void>): Promise<OpenOutcome[]> {
    const patientIds = [...new Set(inputs.map((input) => input.patientId))].sort();
    if (patientIds.length !== inputs.length) throw new Error('createGroup: one open per patient in a group');
    const devices = inputs.flatMap((input, index) =>
      input.envelopes.flatMap((envelope) => (envelope.recipient.kind === 'device' ? [{ ord: index + 1, deviceId: envelope.recipient.deviceId }] : [])),
    );
    // Every id goes into the BEGIN round trip as a literal, which `uuids` refuses unless each is a UUID (the protocol
    // refused any other at the edge); the dates are the server's own.
    const uuidArray = (values: readonly string[]) => `'${uuids(values)}'::uuid[]`;
    // The locks first; then, in a statement of its own (a snapshot taken after the locks), each open's state: it sees
    // what the transactions it waited for committed.
    const { transaction, rows: states } = await begin<OpenStateRow>(
      this.dataSource,
      `SELECT 1 FROM users WHERE id = ANY(${uuidArray(patientIds)}) ORDER BY id FOR NO KEY UPDATE;
       WITH waiting AS (
         SELECT practice_id, count(*)::int AS n FROM conversations
          WHERE practice_id = ANY(${uuidArray([...new Set(inputs.map((input) => input.practiceId))])}) AND status = 'waiting' GROUP BY practice_id
       ), device AS (
         SELECT * FROM unnest('${integers(devices.map((device) => device.ord))}'::int[], ${uuidArray(devices.map((device) => device.deviceId))}) AS v(ord, id)
       )
       SELECT i.ord,
              EXISTS (SELECT 1 FROM conversations WHERE id = i.id) AS is_taken,
              (SELECT count(*) FROM conversations c WHERE c.patient_id = i.patient_id AND c.status <> 'closed')::int AS open,
              (SELECT count(*) FROM conversations c WHERE c.patient_id = i.patient_id AND c.created_at >= i.day_start)::int AS today,
              coalesce((SELECT n FROM waiting w WHERE w.practice_id = i.practice_id), 0) AS waiting,
              (SELECT coalesce(array_agg(d.id::text), '{}') FROM device v JOIN devices d ON d.id = v.id
                WHERE v.ord = i.ord AND d.user_id = i.patient_id AND d.revoked_at IS NULL) AS active_devices
         FROM unnest(${uuidArray(inputs.map((input) => input.id))}, ${uuidArray(inputs.map((input) => input.patientId))},
                     '{${inputs.map((input) => `"${input.limits.dayStart.toISOString()}"`).join(',')}}'::timestamptz[],
                     ${uuidArray(inputs.map((input) => input.practiceId))}) WITH ORDINALITY AS i(id, patient_id, day_start, practice_id, ord)`,
    );
    try {
      const stateOf = new Map(states.map((state) => [Number(state.ord), state]));
      const outcomes: (OpenOutcome | undefined)[] = inputs.map((input, index) => check(input, stateOf.get(index + 1)!));
      // The practice's waiting count before each open: those waiting before the group, then the group's earlier opens.
      const earlierInGroup = new Map<string, number>();
      const accepted: AcceptedOpen[] = [];
      inputs.forEach((input, index) => {
        if (outcomes[index]) return;
        const earlier = earlierInGroup.get(input.practiceId) ?? 0;
        earlierInGroup.set(input.practiceId, earlier + 1);
        accepted.push({ input, waitingBefore: stateOf.get(index + 1)!.waiting + earlier });
      });
      if (accepted.length === 0) {
        await transaction.rollback();
        return outcomes as OpenOutcome[];
      }
      // The insert and what `inTransaction` writes go to PostgreSQL together (the pool pipelines: database/data-source.ts),
      // in this order, and are all answered before the COMMIT is sent; a refused statement refuses the ones after it.
      const [stored] = await Promise.all([
        this.insert(
          transaction.db,
          accepted.map((open) => open.input),
        ),
        inTransaction(transaction.db, accepted),
      ]);
      await transaction.commit();
      const waitingBefore = new Map(accepted.map((open) => [open.input.id, open.waitingBefore]));
      return inputs.map((input, index) => outcomes[index] ?? { conversation: stored.get(input.id)!, waitingBefore: waitingBefore.get(input.id)! });
    } catch (error) {
      await transaction.rollback();
      throw error;
    }
  }

  /**
   * One statement: the conversations, their envelopes (foreign keys checked at the statement's end) and the rows as
   * stored. The byte strings go as one binary parameter per column and the ids as array literals (array-parameters.ts).
   */
  private async insert(db: Db, opens: readonly OpenInput[]): Promise<Map<string, ConversationRow>> {
    const envelopes = opens.flatMap((open) => open.envelopes.map((envelope) => ({ open, envelope })));
    const [lastHash, lastHashAt, lastHashLength] = packed(opens.map((open) => genesisHash(open.id)));
    const [keyIds, keyIdAt, keyIdLength] = packed(envelopes.map(({ envelope }) => Buffer.from(envelope.recipientKeyId, 'base64')));
    const [sealedKeys, sealedKeyAt, sealedKeyLength] = packed(envelopes.map(({ envelope }) => Buffer.from(envelope.sealedKey, 'base64')));
    const [signatures, signatureAt, signatureLength] = packed(envelopes.map(({ envelope }) => Buffer.from(envelope.signature, 'base64')));
    const stored = await rows<ConversationColumnsRow>(db, INSERT_OPENS, [
      uuids(opens.map((open) => open.id)),
      uuids(opens.map((open) => open.practiceId)),
      uuids(opens.map((open) => open.patientId)),
      opens.map((open) => open.topic),
      uuids(opens.map((open) => open.creatorDeviceId)),
      lastHashAt,
      lastHashLength,
      lastHash,
      uuids(envelopes.map(({ open }) => open.id)),
      envelopes.map(({ envelope }) => envelope.recipient.kind),
      uuids(envelopes.map(({ envelope }) => (envelope.recipient.kind === 'device' ? envelope.recipient.deviceId : null))),
      uuids(envelopes.map(({ envelope }) => (envelope.recipient.kind === 'account' ? envelope.recipient.userId : null))),
      integers(envelopes.map(({ envelope }) => (envelope.recipient.kind === 'record' ? envelope.recipient.version : null))),
      keyIdAt,
      keyIdLength,
      sealedKeyAt,
      sealedKeyLength,
      signatureAt,
      signatureLength,
      uuids(envelopes.map(({ open }) => open.creatorDeviceId)),
      keyIds,
      sealedKeys,
      signatures,
    ]);
    return new Map(stored.map((row) => [row.id, toConversationRow(row)]));
  }
}

/** One open's checks, in `ConversationsRepository.create`'s order: undefined when it may be stored, else its answer. */
function check(input: OpenInput, state: OpenStateRow): OpenOutcome | undefined {
  if (state.is_taken) return { taken: true };
  try {
    input.devicesAllowed(new Set(state.active_devices));
  } catch (error) {
    return { error };
  }
  const { maxOpenPerPatient, maxNewPerPatientPerDay } = input.limits;
  if (maxOpenPerPatient !== null && state.open >= maxOpenPerPatient) return { refusal: { limit: 'open', max: maxOpenPerPatient } };
  if (maxNewPerPatientPerDay !== null && state.today >= maxNewPerPatientPerDay) return { refusal: { limit: 'daily', max: maxNewPerPatientPerDay } };
  return undefined;
}
