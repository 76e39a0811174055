import { randomBytes, randomUUID } from 'node:crypto';
import type { TestDatabase } from '@parley/testing';
import type { DataSource, EntityManager } from 'typeorm';
import { freshDatabase, holdingConversation, lockWaiters } from '../../test/database.js';
import { insertDevice, insertPractice, insertUser } from '../../test/factories.js';
import { orStillWaiting, waitUntil } from '../../test/wait.js';
import { openDatabase } from '../database/data-source.js';
import { transaction } from '../database/sql.js';
import { clinicianLoads } from './assignment-locks.js';
import { RoutingRepository, type Assignment, type RoutingPass } from './routing.repository.js';

const NOW = new Date('2025-03-04T10:00:00.000Z');
const DAY_START = new Date('2025-03-04T00:00:00.000Z');

interface Caps {
  maxConcurrent?: number;
  dailyMax?: number | null;
  availability?: 'available' | 'away' | 'offline';
  isConnected?: boolean;
}

describe(RoutingRepository.name, () => {
  let database: TestDatabase;
  let dataSource: DataSource;
  let sut: RoutingRepository;

  beforeAll(async () => {
    database = await freshDatabase();
    dataSource = await openDatabase(database.url);
    sut = new RoutingRepository(dataSource);
  });

  afterAll(async () => {
    await dataSource.destroy();
    await database.drop();
  });

  /** A practice of its own for each test (no test sees another's rows), with one patient device to open conversations from. */
  async function aPractice(): Promise<{ practiceId: string; patientId: string; deviceId: string }> {
    const practiceId = (await insertPractice(dataSource)).id;
    const patientId = await insertUser(dataSource, practiceId, ['patient']);
    return { practiceId, patientId, deviceId: await insertDevice(dataSource, patientId) };
  }

  async function aClinician(practiceId: string, caps: Caps = {}): Promise<string> {
    const id = await insertUser(dataSource, practiceId, ['clinician']);
    await dataSource.query(
      `INSERT INTO clinician_capacity (user_id, practice_id, max_concurrent, daily_max, availability, connected_at) VALUES ($1, $2, $3, $4, $5, $6)`,
      [id, practiceId, caps.maxConcurrent ?? 1, caps.dailyMax ?? null, caps.availability ?? 'available', (caps.isConnected ?? true) ? NOW : null],
    );
    return id;
  }

  /** A conversation waiting since `queuedAt` (urgent when `urgentAt` is given), or assigned to `clinicianId` at `assignedAt`. */
  async function aConversation(
    practice: { practiceId: string; patientId: string; deviceId: string },
    options: { queuedAt?: Date; urgentAt?: Date; clinicianId?: string; assignedAt?: Date; lastSeq?: number } = {},
  ): Promise<string> {
    const id = randomUUID();
    const at = options.queuedAt ?? NOW;
    const assignedAt = options.assignedAt ?? NOW;
    await dataSource.query(
      // last_seq 2 unless told: its `opened` and `acknowledged` entries are in (routing takes no conversation before them).
      `INSERT INTO conversations (id, practice_id, patient_id, topic, created_by_device_id, last_hash, last_seq, created_at, queued_at, urgent_at, status, assigned_clinician_id, assigned_at)
       VALUES ($1, $2, $3, 'admin', $4, $5, $11, $6, $6, $7, $8, $9, $10)`,
      [
        id,
        practice.practiceId,
        practice.patientId,
        practice.deviceId,
        randomBytes(32),
        at,
        options.urgentAt ?? null,
        options.clinicianId ? 'assigned' : 'waiting',
        options.clinicianId ?? null,
        options.clinicianId ? assignedAt : null,
        options.lastSeq ?? 2,
      ],
    );
    if (options.clinicianId) {
      await dataSource.query(`INSERT INTO assignments (id, conversation_id, clinician_id, practice_id, how, assigned_at) VALUES ($1, $2, $3, $4, 'auto', $5)`, [
        randomUUID(),
        id,
        options.clinicianId,
        practice.practiceId,
        assignedAt,
      ]);
    }
    return id;
  }

  /** Closes the clinician's conversations: they no longer count as active, but their assignments still count today. */
  const closeAllOf = (clinicianId: string) =>
    dataSource.query(
      `UPDATE conversations SET status = 'closed', outcome = 'resolved', assigned_clinician_id = NULL, assigned_at = NULL WHERE assigned_clinician_id = $1`,
      [clinicianId],
    );
  const minutes = (n: number) => new Date(NOW.getTime() - n * 60_000);
  const assignees = async (practiceId: string): Promise<Record<string, string | null>> =>
    Object.fromEntries(
      (await dataSource.query(`SELECT id, assigned_clinician_id FROM conversations WHERE practice_id = $1`, [practiceId])).map(
        (row: { id: string; assigned_clinician_id: string | null }) => [row.id, row.assigned_clinician_id],
      ),
    );
  const liveCount = async (clinicianId: string): Promise<number> =>
    (
      await dataSource.query(`SELECT count(*)::int AS n FROM conversations WHERE assigned_clinician_id = $1 AND status IN ('assigned', 'on_hold')`, [
        clinicianId,
      ])
    )[0].n;

  /**
   * Holds the practice's routing locks in a transaction of its own until `whileHeld` resolves, so calls started
   * inside it are in flight at the same time and must queue on the locks.
   */
  async function holdingRoutingLocks(practiceId: string, whileHeld: () => Promise<void>): Promise<void> {
    await dataSource.transaction(async (db: EntityManager) => {
      await db.query(`SELECT user_id FROM clinician_capacity WHERE practice_id = $1 ORDER BY user_id FOR UPDATE`, [practiceId]);
      await whileHeld();
    });
  }

  describe('clinicianLoads', () => {
    it("counts each clinician's active conversations, and today's assignments where a daily cap reads them", async () => {
      const practice = await aPractice();
      const capped = await aClinician(practice.practiceId, { maxConcurrent: 5, dailyMax: 10 });
      const uncapped = await aClinician(practice.practiceId, { maxConcurrent: 5 });
      for (const clinicianId of [capped, uncapped]) {
        await aConversation(practice, { clinicianId, assignedAt: minutes(30) });
        await aConversation(practice, { clinicianId, assignedAt: minutes(20) });
        await aConversation(practice, { clinicianId, assignedAt: new Date(DAY_START.getTime() - 60_000) });
      }
      await closeAllOf(capped);
      await aConversation(practice, { clinicianId: capped, assignedAt: minutes(10) });

      const loads = await transaction(dataSource, (db) => clinicianLoads(db, practice.practiceId, DAY_START));

      const byId = new Map(loads.map((load) => [load.userId, { active: load.active, today: load.today }]));
      expect(byId.get(capped)).toEqual({ active: 1, today: 3 });
      // Without a daily cap nothing reads today's count: it is not counted (0).
      expect(byId.get(uncapped)).toEqual({ active: 3, today: 0 });
    });
  });

  describe('assignWaiting', () => {
    it('assigns in queue order, urgent first, to the reachable clinician with fewest active, and records each assignment', async () => {
      const practice = await aPractice();
      const busy = await aClinician(practice.practiceId, { maxConcurrent: 3 });
      const idle = await aClinician(practice.practiceId, { maxConcurrent: 3 });
      await aConversation(practice, { clinicianId: busy });
      const oldest = await aConversation(practice, { queuedAt: minutes(30) });
      const urgent = await aConversation(practice, { queuedAt: minutes(5), urgentAt: minutes(1) });

      const { made } = await sut.assignWaiting(practice.practiceId, NOW, DAY_START);

      expect(made).toEqual([
        { practiceId: practice.practiceId, conversationId: urgent, clinicianId: idle, patientId: practice.patientId, how: 'auto' },
        { practiceId: practice.practiceId, conversationId: oldest, clinicianId: expect.any(String), patientId: practice.patientId, how: 'auto' },
      ]);
      // After the urgent one both have one live conversation: the tie goes to who was assigned longest ago (busy, never by routing).
      expect(made[1]!.clinicianId).toBe(busy);
      expect(
        await dataSource.query(
          `SELECT conversation_id, clinician_id, how, assigned_at FROM assignments WHERE conversation_id = ANY($1::uuid[]) ORDER BY assigned_at, how`,
          [[urgent, oldest]],
        ),
      ).toEqual(
        expect.arrayContaining([
          { conversation_id: urgent, clinician_id: idle, how: 'auto', assigned_at: NOW },
          { conversation_id: oldest, clinician_id: busy, how: 'auto', assigned_at: NOW },
        ]),
      );
      expect(await dataSource.query(`SELECT status, assigned_at FROM conversations WHERE id = $1`, [urgent])).toEqual([
        { status: 'assigned', assigned_at: NOW },
      ]);
      expect(await dataSource.query(`SELECT last_assigned_at FROM clinician_capacity WHERE user_id = $1`, [idle])).toEqual([{ last_assigned_at: NOW }]);
    });

    it('leaves a conversation whose first entries are not committed yet waiting, so no `assigned` goes ahead of its `opened`', async () => {
      const practice = await aPractice();
      const clinician = await aClinician(practice.practiceId, { maxConcurrent: 3 });
      const justStored = await aConversation(practice, { queuedAt: minutes(30), lastSeq: 0 });
      const opened = await aConversation(practice, { queuedAt: minutes(5) });

      const pass = await sut.assignWaiting(practice.practiceId, NOW, DAY_START);

      expect(pass).toEqual({
        made: [{ practiceId: practice.practiceId, conversationId: opened, clinicianId: clinician, patientId: practice.patientId, how: 'auto' }],
        isRoomLeft: true,
      });
      expect(await dataSource.query(`SELECT status FROM conversations WHERE id = $1`, [justStored])).toEqual([{ status: 'waiting' }]);
      // Not one a pass skipped: its own open routes it once its entries are committed.
      expect(await sut.isRoutableWaiting(practice.practiceId)).toBe(false);
    });

    it('assigns nobody beyond the concurrent cap or the daily cap, and leaves the rest waiting', async () => {
      const practice = await aPractice();
      const capped = await aClinician(practice.practiceId, { maxConcurrent: 2 });
      const daily = await aClinician(practice.practiceId, { maxConcurrent: 5, dailyMax: 2 });
      await aConversation(practice, { clinicianId: capped });
      await aConversation(practice, { clinicianId: daily, assignedAt: minutes(60) });
      await closeAllOf(daily);
      const waiting = await Promise.all([1, 2, 3, 4].map((n) => aConversation(practice, { queuedAt: minutes(10 * n) })));

      const { made } = await sut.assignWaiting(practice.practiceId, NOW, DAY_START);

      expect(made.filter((a) => a.clinicianId === capped)).toHaveLength(1);
      expect(made.filter((a) => a.clinicianId === daily)).toHaveLength(1);
      expect(await liveCount(capped)).toBe(2);
      expect(await dataSource.query(`SELECT count(*)::int AS n FROM assignments WHERE clinician_id = $1 AND assigned_at >= $2`, [daily, DAY_START])).toEqual([
        { n: 2 },
      ]);
      const after = await assignees(practice.practiceId);
      expect(waiting.filter((id) => after[id] === null)).toHaveLength(2);
      expect(await sut.assignWaiting(practice.practiceId, NOW, DAY_START)).toEqual({ made: [], isRoomLeft: false });
    });

    it('gives no new work to a clinician who is away, offline or not connected', async () => {
      const practice = await aPractice();
      await aClinician(practice.practiceId, { availability: 'away' });
      await aClinician(practice.practiceId, { availability: 'offline' });
      await aClinician(practice.practiceId, { isConnected: false });
      const waiting = await aConversation(practice);

      expect(await sut.assignWaiting(practice.practiceId, NOW, DAY_START)).toEqual({ made: [], isRoomLeft: false });
      expect(await assignees(practice.practiceId)).toEqual({ [waiting]: null });
    });

    it('lets two concurrent runs (two nodes) fill the one free place once: the second waits on the routing locks and finds the clinician at cap', async () => {
      const practice = await aPractice();
      const clinician = await aClinician(practice.practiceId, { maxConcurrent: 1 });
      await Promise.all([1, 2, 3].map((n) => aConversation(practice, { queuedAt: minutes(n) })));
      const otherNode = await openDatabase(database.url);
      let runs: Promise<RoutingPass[]> = Promise.resolve([]);

      await holdingRoutingLocks(practice.practiceId, async () => {
        runs = Promise.all([
          sut.assignWaiting(practice.practiceId, NOW, DAY_START),
          new RoutingRepository(otherNode).assignWaiting(practice.practiceId, NOW, DAY_START),
        ]);
        await waitUntil(async () => (await lockWaiters(dataSource)) >= 2, 'both runs to wait on the routing locks');
      });
      const made = await runs;
      await otherNode.destroy();

      expect(made.map((run) => run.made.length).sort()).toEqual([0, 1]);
      expect(await liveCount(clinician)).toBe(1);
    });

    it("takes a conversation another transaction holds for a foreign-key check, and leaves room when it passes over one held FOR NO KEY UPDATE (the record writer's lock)", async () => {
      const practice = await aPractice();
      const clinician = await aClinician(practice.practiceId, { maxConcurrent: 3 });
      const [receipted, written, free] = await Promise.all([30, 20, 10].map((n) => aConversation(practice, { queuedAt: minutes(n) })));
      let held: RoutingPass | undefined;
      let isPassedOver: boolean | undefined;

      // Another transaction holds one row for a foreign-key check and one as the record writer does, as holdingRoutingLocks holds the clinicians'.
      await dataSource.transaction(async (db: EntityManager) => {
        await db.query(`SELECT 1 FROM conversations WHERE id = $1 FOR KEY SHARE`, [receipted]);
        await db.query(`SELECT 1 FROM conversations WHERE id = $1 FOR NO KEY UPDATE`, [written]);
        held = await sut.assignWaiting(practice.practiceId, NOW, DAY_START);
        isPassedOver = await sut.isRoutableWaiting(practice.practiceId);
      });
      const after = await sut.assignWaiting(practice.practiceId, NOW, DAY_START);

      expect(held).toEqual({
        made: [expect.objectContaining({ conversationId: receipted }), expect.objectContaining({ conversationId: free })],
        isRoomLeft: true,
      });
      expect(isPassedOver).toBe(true);
      expect(after).toEqual({ made: [expect.objectContaining({ conversationId: written, clinicianId: clinician })], isRoomLeft: false });
      expect(await sut.isRoutableWaiting(practice.practiceId)).toBe(false);
    });
  });

  describe('assignOnOpen', () => {
    /** `assignOnOpen` in a transaction of its own, as an open's group calls it; with what its hook was given. */
    async function openingGroup(practiceId: string, conversations: { id: string; patientId: string }[]) {
      const hooked: (readonly Assignment[])[] = [];
      const made = await transaction(dataSource, (db) =>
        sut.assignOnOpen(db, practiceId, conversations, NOW, DAY_START, async (_db, assigned) => void hooked.push(assigned)),
      );
      return { made, hooked };
    }

    it('gives the conversations being opened, in their order, to reachable clinicians below their caps, as a pass would; the rest wait', async () => {
      const practice = await aPractice();
      const busy = await aClinician(practice.practiceId, { maxConcurrent: 2 });
      const idle = await aClinician(practice.practiceId, { maxConcurrent: 1 });
      await aClinician(practice.practiceId, { availability: 'away', maxConcurrent: 5 });
      await aConversation(practice, { clinicianId: busy });
      const group = await Promise.all([1, 2, 3].map(() => aConversation(practice)));

      const { made, hooked } = await openingGroup(
        practice.practiceId,
        group.map((id) => ({ id, patientId: practice.patientId })),
      );

      const assignment = (conversationId: string, clinicianId: string) => ({
        practiceId: practice.practiceId,
        conversationId,
        clinicianId,
        patientId: practice.patientId,
        how: 'auto',
      });
      expect(made).toEqual([assignment(group[0]!, idle), assignment(group[1]!, busy)]);
      expect(hooked).toEqual([made]);
      expect(await assignees(practice.practiceId)).toMatchObject({ [group[0]!]: idle, [group[1]!]: busy, [group[2]!]: null });
      expect(await dataSource.query(`SELECT count(*)::int AS n FROM assignments WHERE conversation_id = ANY($1::uuid[])`, [group])).toEqual([{ n: 2 }]);
      expect(await liveCount(busy)).toBe(2);
    });

    it('assigns none while another conversation of the practice waits, so the pass after the open keeps queue order', async () => {
      const practice = await aPractice();
      const clinician = await aClinician(practice.practiceId, { maxConcurrent: 1 });
      const older = await aConversation(practice, { queuedAt: minutes(10) });
      const opening = await aConversation(practice);

      const { made, hooked } = await openingGroup(practice.practiceId, [{ id: opening, patientId: practice.patientId }]);

      expect(made).toEqual([]);
      expect(hooked).toEqual([[]]);
      expect(await assignees(practice.practiceId)).toEqual({ [older]: null, [opening]: null });
      expect((await sut.assignWaiting(practice.practiceId, NOW, DAY_START)).made.map((a) => a.conversationId)).toEqual([older]);
      expect(await liveCount(clinician)).toBe(1);
    });

    it('waits for the routing locks another transaction holds, then counts what it committed meanwhile', async () => {
      const practice = await aPractice();
      const clinician = await aClinician(practice.practiceId, { maxConcurrent: 1 });
      const opening = await aConversation(practice);
      let inGroup: ReturnType<typeof openingGroup> = Promise.resolve({ made: [], hooked: [] });

      await holdingRoutingLocks(practice.practiceId, async () => {
        inGroup = openingGroup(practice.practiceId, [{ id: opening, patientId: practice.patientId }]);
        await waitUntil(async () => (await lockWaiters(dataSource)) >= 1, 'the group to wait on the routing locks');
        // The clinician's one place taken while the group waits (a claim on another node, say).
        await aConversation(practice, { clinicianId: clinician });
      });

      expect(await inGroup).toEqual({ made: [], hooked: [[]] });
      expect(await liveCount(clinician)).toBe(1);
      expect((await assignees(practice.practiceId))[opening]).toBeNull();
    });

    it('gives up on routing locks held longer than its bound, refused as lock_not_available, so its opens are stored alone instead', async () => {
      const practice = await aPractice();
      const clinician = await aClinician(practice.practiceId, { maxConcurrent: 1 });
      const opening = await aConversation(practice);
      let inGroup: ReturnType<typeof openingGroup> = Promise.resolve({ made: [], hooked: [] });

      const startedAt = Date.now();
      await holdingRoutingLocks(practice.practiceId, async () => {
        inGroup = openingGroup(practice.practiceId, [{ id: opening, patientId: practice.patientId }]);
        await inGroup.catch(() => undefined);
      });

      await expect(inGroup).rejects.toMatchObject({ code: '55P03' });
      expect(Date.now() - startedAt).toBeGreaterThanOrEqual(1_900);
      expect(await assignees(practice.practiceId)).toEqual({ [opening]: null });
      expect(await liveCount(clinician)).toBe(0);
    });
  });

  describe('claim', () => {
    it('gives a waiting conversation to an available clinician below their caps, as a claim', async () => {
      const practice = await aPractice();
      const clinician = await aClinician(practice.practiceId, { isConnected: false });
      const conversation = await aConversation(practice);

      const claimed = await sut.claim(practice.practiceId, clinician, conversation, NOW, DAY_START);

      expect(claimed).toEqual({
        practiceId: practice.practiceId,
        conversationId: conversation,
        clinicianId: clinician,
        patientId: practice.patientId,
        how: 'claim',
      });
      expect(await dataSource.query(`SELECT how FROM assignments WHERE conversation_id = $1`, [conversation])).toEqual([{ how: 'claim' }]);
    });

    it('claims a conversation while a receipt being stored holds it for its foreign-key check', async () => {
      const practice = await aPractice();
      const clinician = await aClinician(practice.practiceId);
      const conversation = await aConversation(practice);
      let claimed: Awaited<ReturnType<RoutingRepository['claim']>> | 'still waiting' | undefined;

      await holdingConversation(dataSource, conversation, 'KEY SHARE', async () => {
        claimed = await orStillWaiting(sut.claim(practice.practiceId, clinician, conversation, NOW, DAY_START), 3_000);
      });

      expect(claimed).toMatchObject({ conversationId: conversation, clinicianId: clinician, how: 'claim' });
    });

    it('refuses a clinician at a cap, one not available, and a conversation no longer waiting, changing nothing', async () => {
      const practice = await aPractice();
      const full = await aClinician(practice.practiceId, { maxConcurrent: 1 });
      const dailyFull = await aClinician(practice.practiceId, { maxConcurrent: 3, dailyMax: 1 });
      const away = await aClinician(practice.practiceId, { availability: 'away' });
      await aConversation(practice, { clinicianId: full });
      await aConversation(practice, { clinicianId: dailyFull });
      await closeAllOf(dailyFull);
      const taken = await aConversation(practice, { clinicianId: away });
      const waiting = await aConversation(practice);
      const before = await assignees(practice.practiceId);

      expect(await sut.claim(practice.practiceId, full, waiting, NOW, DAY_START)).toBe('at_cap');
      expect(await sut.claim(practice.practiceId, dailyFull, waiting, NOW, DAY_START)).toBe('at_cap');
      expect(await sut.claim(practice.practiceId, away, waiting, NOW, DAY_START)).toBe('not_available');
      expect(await sut.claim(practice.practiceId, full, taken, NOW, DAY_START)).toBe('not_waiting');
      expect(await assignees(practice.practiceId)).toEqual(before);
    });

    it('lets one of a claim and a routing run racing for the last free place through, never both', async () => {
      const practice = await aPractice();
      const clinician = await aClinician(practice.practiceId, { maxConcurrent: 1 });
      const first = await aConversation(practice, { queuedAt: minutes(2) });
      const second = await aConversation(practice, { queuedAt: minutes(1) });
      let race: Promise<[unknown, RoutingPass]> = Promise.resolve([null, { made: [], isRoomLeft: false }]);

      await holdingRoutingLocks(practice.practiceId, async () => {
        race = Promise.all([sut.claim(practice.practiceId, clinician, second, NOW, DAY_START), sut.assignWaiting(practice.practiceId, NOW, DAY_START)]);
        await waitUntil(async () => (await lockWaiters(dataSource)) >= 2, 'the claim and the routing run to wait on the routing locks');
      });
      const [claimed, routed] = await race;

      expect([claimed === 'at_cap' ? 0 : 1, routed.made.length].sort()).toEqual([0, 1]);
      expect(await liveCount(clinician)).toBe(1);
      const after = await assignees(practice.practiceId);
      expect([after[first], after[second]].filter((assignee) => assignee === clinician)).toHaveLength(1);
    });
  });
});
