import { randomBytes, randomUUID } from 'node:crypto';
import type { Envelope } from '@parley/protocol';
import type { TestDatabase } from '@parley/testing';
import type { DataSource } from 'typeorm';
import { freshDatabase } from '../../test/database.js';
import { insertDevice, insertPractice, insertUser } from '../../test/factories.js';
import { DomainError } from '../common/domain-error.js';
import { openDatabase } from '../database/data-source.js';
import { run } from '../database/sql.js';
import { ConversationOpeningRepository, type OpenInput } from './opening.repository.js';

const DAY_START = new Date('2025-03-04T00:00:00.000Z');
const NO_LIMITS = { maxOpenPerPatient: null, maxNewPerPatientPerDay: null, dayStart: DAY_START };

const bytes = (n: number) => randomBytes(n).toString('base64');
const envelopeFor = (recipient: Envelope['recipient']): Envelope => ({ recipient, recipientKeyId: bytes(16), sealedKey: bytes(80), signature: bytes(64) });

describe(ConversationOpeningRepository.name, () => {
  let database: TestDatabase;
  let dataSource: DataSource;
  let sut: ConversationOpeningRepository;
  let practiceId: string;

  beforeAll(async () => {
    database = await freshDatabase();
    dataSource = await openDatabase(database.url);
    sut = new ConversationOpeningRepository(dataSource);
  });

  beforeEach(async () => {
    practiceId = (await insertPractice(dataSource)).id;
  });

  afterAll(async () => {
    await dataSource.destroy();
    await database.drop();
  });

  /** A patient with one device, and an open of theirs with envelopes for the device and their account. */
  async function anOpen(limits: OpenInput['limits'] = NO_LIMITS): Promise<OpenInput> {
    const patientId = await insertUser(dataSource, practiceId, ['patient']);
    const deviceId = await insertDevice(dataSource, patientId);
    return {
      id: randomUUID(),
      practiceId,
      patientId,
      topic: 'other',
      creatorDeviceId: deviceId,
      envelopes: [envelopeFor({ kind: 'device', deviceId }), envelopeFor({ kind: 'account', userId: patientId })],
      limits,
      devicesAllowed: (active) => {
        if (!active.has(deviceId)) throw new DomainError('invalid_payload', 'An envelope names a device that is not active.');
      },
    };
  }

  const stored = async (ids: readonly string[]) =>
    (await dataSource.query(`SELECT id FROM conversations WHERE id = ANY($1::uuid[]) ORDER BY queued_at, id`, [ids])) as { id: string }[];

  it('stores a group in one transaction with its envelopes and audit step, queued in arrival order, each counting those before it', async () => {
    const opens = [await anOpen(), await anOpen(), await anOpen()];
    const audited: string[] = [];

    const outcomes = await sut.createGroup(opens, async (db, group) => {
      expect(group.map((open) => open.waitingBefore)).toEqual([0, 1, 2]);
      audited.push(...group.map((open) => open.input.id));
      // Inside the group's transaction: the conversations are there already.
      expect(await db.query(`SELECT count(*)::int AS n FROM conversations WHERE id = ANY($1::uuid[])`, [audited])).toEqual([{ n: 3 }]);
    });

    expect(outcomes.map((outcome) => ('conversation' in outcome ? [outcome.conversation.id, outcome.waitingBefore] : outcome))).toEqual(
      opens.map((open, index) => [open.id, index]),
    );
    expect(audited).toEqual(opens.map((open) => open.id));
    expect((await stored(opens.map((open) => open.id))).map((row) => row.id)).toEqual(opens.map((open) => open.id));
    const envelopes = (await dataSource.query(`SELECT count(*)::int AS n FROM conversation_envelopes WHERE conversation_id = ANY($1::uuid[])`, [
      opens.map((open) => open.id),
    ])) as { n: number }[];
    expect(envelopes[0]!.n).toBe(6);
  });

  it('refuses each open alone (a taken id, a revoked device, a patient at their limit) and stores the others', async () => {
    const [first] = await sut.createGroup([await anOpen()], async () => undefined);
    const takenId = 'conversation' in first! ? first.conversation.id : '';
    const retry = { ...(await anOpen()), id: takenId };
    const revoked = await anOpen();
    await dataSource.query(`UPDATE devices SET revoked_at = now() WHERE id = $1`, [revoked.creatorDeviceId]);
    const atLimit = await anOpen({ ...NO_LIMITS, maxOpenPerPatient: 1 });
    await sut.createGroup([atLimit], async () => undefined);
    const secondOfAtLimit = { ...(await anOpen()), patientId: atLimit.patientId, id: randomUUID(), limits: atLimit.limits, devicesAllowed: () => undefined };
    const fine = await anOpen();

    const outcomes = await sut.createGroup([retry, revoked, secondOfAtLimit, fine], async () => undefined);

    expect(outcomes[0]).toEqual({ taken: true });
    expect(outcomes[1]).toEqual({ error: new DomainError('invalid_payload', 'An envelope names a device that is not active.') });
    expect(outcomes[2]).toEqual({ refusal: { limit: 'open', max: 1 } });
    expect('conversation' in outcomes[3]! && outcomes[3].conversation.id).toBe(fine.id);
    expect((await stored([revoked.id, secondOfAtLimit.id, fine.id])).map((row) => row.id)).toEqual([fine.id]);
  });

  it('stores nothing of a group whose transaction fails, and takes no two opens of one patient', async () => {
    const opens = [await anOpen(), await anOpen()];

    await expect(
      sut.createGroup(opens, async () => {
        throw new Error('audit failed');
      }),
    ).rejects.toThrow('audit failed');
    await expect(sut.createGroup([opens[0]!, { ...opens[0]!, id: randomUUID() }], async () => undefined)).rejects.toThrow('one open per patient');

    expect(await stored(opens.map((open) => open.id))).toEqual([]);
  });

  it('answers a group whose insert PostgreSQL refuses with that refusal, not the aborted writes sent behind it, and stores nothing', async () => {
    const open = await anOpen();
    // A practice that does not exist: the conversations' foreign key refuses the insert, after the state read passed.
    const refused = { ...open, practiceId: randomUUID() };
    let written = 0;

    const failed = sut.createGroup([refused], async (db) => {
      // Sent together with the insert (the pool pipelines): PostgreSQL aborts it with the transaction.
      await run(db, `SELECT 1`);
      written += 1;
    });

    await expect(failed).rejects.toMatchObject({ code: '23503' });
    expect(written).toBe(0);
    expect(await stored([open.id])).toEqual([]);
    // The connection went back to the pool usable: the next group commits.
    const next = await anOpen();
    await sut.createGroup([next], async (db) => run(db, `SELECT 1`));
    expect(await stored([next.id])).toEqual([{ id: next.id }]);
  });

  it('stores nothing of a group when a write sent with its insert is refused', async () => {
    const opens = [await anOpen(), await anOpen()];

    await expect(sut.createGroup(opens, async (db) => run(db, `SELECT 1 / 0`))).rejects.toMatchObject({ code: '22012' });

    expect(await stored(opens.map((open) => open.id))).toEqual([]);
  });
});
