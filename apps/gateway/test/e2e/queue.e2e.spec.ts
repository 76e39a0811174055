import { randomUUID } from 'node:crypto';
import type { ParleyClient } from '@parley/client';
import { ready } from '@parley/crypto';
import type { CodeIssued, ConversationAssigned } from '@parley/protocol';
import { redisKeyPrefix, testRedisUrl } from '@parley/testing';
import type { DataSource } from 'typeorm';
import { startTestApp, type TestApp } from '../app.js';
import { patientChat, type Chatter } from '../chat.js';
import { activatePatient, activateStaff, apiOk, connectAs, createPracticeWithStaff, type TestPractice, type TestStaff } from '../factories.js';
import { waitUntil } from '../wait.js';

/** A clinician of the practice, signed in and connected, available for work with the given cap. */
async function aClinician(
  url: string,
  practice: TestPractice,
  manager: ParleyClient,
  maxConcurrent: number,
): Promise<{ staff: TestStaff; client: ParleyClient; assigned: ConversationAssigned[] }> {
  const email = `clinician.${randomUUID().slice(0, 8)}@test.parley`;
  const issued = await apiOk<CodeIssued>(
    url,
    'POST',
    '/api/staff',
    { token: practice.manager.token, body: { displayName: `Dr ${email.slice(10, 14)}`, email, roles: ['clinician'] } },
    201,
  );
  const staff = await activateStaff(url, practice.odsCode, issued.code, { userId: issued.userId, email, roles: ['clinician'] });
  const client = await connectAs(url, staff, 10_000);
  const assigned: ConversationAssigned[] = [];
  client.on('conversation:assigned', (fact) => assigned.push(fact));
  expect(await manager.request('capacity:set-clinician', { clinicianId: staff.userId, maxConcurrent, dailyMax: null })).toEqual({ ok: true, data: null });
  expect(await client.request('staff:availability', { availability: 'available' })).toEqual({ ok: true, data: null });
  return { staff, client, assigned };
}

const loads = async (dataSource: DataSource, practiceId: string) =>
  (await dataSource.query(
    `SELECT assigned_clinician_id AS id, count(*)::int AS n FROM conversations WHERE practice_id = $1 AND status IN ('assigned', 'on_hold') GROUP BY 1 ORDER BY 1`,
    [practiceId],
  )) as { id: string; n: number }[];

// With a Redis the two nodes are linked (facts cross nodes, as in production); without one only the
// database-level checks and the per-clinician bound on facts can be made.
const redisUrl = testRedisUrl();

describe(`live queue and routing (two in-process gateway nodes on one PostgreSQL${redisUrl ? ', linked by Redis' : ''})`, () => {
  let nodeA: TestApp;
  let nodeB: TestApp;
  let practice: TestPractice;
  let manager: ParleyClient;
  const clients: ParleyClient[] = [];
  const chats: Chatter[] = [];

  beforeAll(async () => {
    await ready();
    const link: Record<string, string> = redisUrl ? { REDIS_URL: redisUrl, REDIS_STREAM_NAME: redisKeyPrefix() } : {};
    nodeA = await startTestApp(link);
    nodeB = await startTestApp({ ...link, DATABASE_URL: nodeA.config.databaseUrl! });
    practice = await createPracticeWithStaff(nodeA);
    manager = await connectAs(nodeA.url, practice.manager, 10_000);
    clients.push(manager);
  });

  afterAll(async () => {
    for (const chat of chats) await chat.session.close();
    for (const client of clients) client.close();
    await nodeB.close();
    await nodeA.close();
  });

  it('never puts a clinician over cap nor a conversation with two clinicians when 200 patients open at once, and assigns the rest when caps rise', async () => {
    const clinicians: Awaited<ReturnType<typeof aClinician>>[] = [];
    for (let i = 0; i < 5; i += 1) clinicians.push(await aClinician(i % 2 ? nodeB.url : nodeA.url, practice, manager, 3));
    clients.push(...clinicians.map((c) => c.client));
    const patients = [];
    for (let i = 0; i < 200; i += 1) patients.push(await activatePatient(nodeA.url, practice));
    // A generous ack timeout: 200 opens at once on a 2-core machine that also runs the test's own crypto.
    for (const [i, patient] of patients.entries()) chats.push(await patientChat(i % 2 ? nodeB.url : nodeA.url, practice, patient, 20_000));

    const opened = await Promise.all(chats.map((chat) => chat.session.openConversation('admin')));
    await waitUntil(async () => (await loads(nodeA.dataSource, practice.id)).reduce((sum, l) => sum + l.n, 0) >= 15, '15 assignments', 20_000);
    const afterRush = await loads(nodeA.dataSource, practice.id);
    const [{ live_twice }] = await nodeA.dataSource.query(
      `SELECT count(*)::int AS live_twice FROM (SELECT conversation_id FROM assignments WHERE ended_at IS NULL GROUP BY 1 HAVING count(*) > 1) x`,
    );
    const waitingOrder: { queued_at: Date }[] = await nodeA.dataSource.query(
      `SELECT queued_at FROM conversations WHERE practice_id = $1 AND status = 'waiting' ORDER BY queued_at, id`,
      [practice.id],
    );
    const snapshot = await manager.request('queue:list', {});

    expect(opened).toHaveLength(200);
    expect(afterRush).toHaveLength(5);
    expect(afterRush.every((load) => load.n === 3)).toBe(true);
    expect(live_twice).toBe(0);
    expect(clinicians.every((c) => c.assigned.length <= 3)).toBe(true);
    if (redisUrl) {
      await waitUntil(() => clinicians.every((c) => c.assigned.length === 3), 'every clinician to be told of 3 assignments', 20_000);
      expect(new Set(clinicians.flatMap((c) => c.assigned.map((a) => a.conversationId))).size).toBe(15);
    }
    expect(waitingOrder).toHaveLength(185);
    expect(snapshot.ok && snapshot.data.waiting.map((w) => w.waitingSince)).toEqual(waitingOrder.map((w) => w.queued_at.toISOString()));

    for (const clinician of clinicians)
      await manager.request('capacity:set-clinician', { clinicianId: clinician.staff.userId, maxConcurrent: 5, dailyMax: null });
    const afterRaise = await loads(nodeA.dataSource, practice.id);

    expect(afterRaise.map((load) => load.n)).toEqual([5, 5, 5, 5, 5]);
    expect(await nodeA.dataSource.query(`SELECT count(*)::int AS n FROM conversations WHERE practice_id = $1 AND status = 'waiting'`, [practice.id])).toEqual([
      { n: 175 },
    ]);
  }, 240_000);

  it('tells a waiting patient their position and an estimate', async () => {
    // The newest patient on node A: still waiting, and (without Redis) on the node the manager's change is announced from.
    const chat = chats[chats.length - 2]!;
    const position = new Promise((resolve) => chat.session.client.on('queue:position', resolve));

    await manager.request('capacity:set-practice', { maxQueue: null, maxNewPerDay: null, isIntakePaused: false });

    expect(await position).toMatchObject({ position: expect.any(Number), estimatedWaitMinutes: expect.any(Number) });
  });

  it('lets a clinician claim only under cap, and only what is still waiting', async () => {
    const [assignedRow] = await nodeA.dataSource.query(
      `SELECT id, assigned_clinician_id FROM conversations WHERE practice_id = $1 AND status = 'assigned' LIMIT 1`,
      [practice.id],
    );
    const fresh = await aClinician(nodeA.url, practice, manager, 1);
    clients.push(fresh.client);
    await waitUntil(() => fresh.assigned.length === 1, 'the new clinician to be given one conversation', 20_000);
    const [waitingRow] = await nodeA.dataSource.query(`SELECT id FROM conversations WHERE practice_id = $1 AND status = 'waiting' ORDER BY queued_at LIMIT 1`, [
      practice.id,
    ]);

    const atCap = await fresh.client.request('conversation:claim', { conversationId: waitingRow.id });
    await manager.request('capacity:set-clinician', { clinicianId: fresh.staff.userId, maxConcurrent: 2, dailyMax: null });
    const [nextWaiting] = await nodeA.dataSource.query(
      `SELECT id FROM conversations WHERE practice_id = $1 AND status = 'waiting' ORDER BY queued_at LIMIT 1`,
      [practice.id],
    );
    const taken = await fresh.client.request('conversation:claim', { conversationId: assignedRow.id });

    expect(atCap).toMatchObject({ ok: false, error: { code: 'at_capacity' } });
    expect(fresh.assigned).toHaveLength(2);
    expect(nextWaiting.id).not.toBe(waitingRow.id);
    expect(taken).toMatchObject({ ok: false, error: { code: 'conflict' } });
    expect(await nodeA.dataSource.query(`SELECT assigned_clinician_id FROM conversations WHERE id = $1`, [assignedRow.id])).toEqual([
      { assigned_clinician_id: assignedRow.assigned_clinician_id },
    ]);
  });

  it('refuses a manager action from a patient or a clinician, changing nothing', async () => {
    const clinician = await connectAs(nodeA.url, practice.clinician, 10_000);
    clients.push(clinician);
    // The connection itself is written to the clinician's capacity row: wait for it before taking the picture.
    await waitUntil(
      async () =>
        (await nodeA.dataSource.query(`SELECT 1 FROM clinician_capacity WHERE user_id = $1 AND connected_at IS NOT NULL`, [practice.clinician.userId]))
          .length === 1,
      'the connection to be noted',
    );
    const before = await nodeA.dataSource.query(`SELECT * FROM clinician_capacity ORDER BY user_id`);

    const answers = [
      await clinician.request('capacity:set-clinician', { clinicianId: practice.clinician.userId, maxConcurrent: 50, dailyMax: null }),
      await clinician.request('capacity:set-practice', { maxQueue: 0, maxNewPerDay: 0, isIntakePaused: true }),
      await chats[0]!.session.client.request('capacity:set-practice', { maxQueue: 0, maxNewPerDay: 0, isIntakePaused: true }),
      await chats[0]!.session.client.request('queue:list', {}),
      await chats[0]!.session.client.request('staff:availability', { availability: 'available' }),
    ];

    expect(answers.map((answer) => (answer.ok ? 'ok' : answer.error.code))).toEqual(['forbidden', 'forbidden', 'forbidden', 'forbidden', 'forbidden']);
    expect(await nodeA.dataSource.query(`SELECT * FROM clinician_capacity ORDER BY user_id`)).toEqual(before);
    expect(await nodeA.dataSource.query(`SELECT * FROM practice_capacity WHERE practice_id = $1`, [practice.id])).toEqual([
      expect.objectContaining({ is_intake_paused: false, max_queue: null }),
    ]);
  });

  it('refuses a staff answer into a conversation assigned to someone else', async () => {
    const [row] = await nodeA.dataSource.query(
      `SELECT id FROM conversations WHERE practice_id = $1 AND status = 'assigned' AND assigned_clinician_id <> $2 LIMIT 1`,
      [practice.id, practice.clinician.userId],
    );
    const clinician = await connectAs(nodeA.url, practice.clinician, 10_000);
    clients.push(clinician);

    const answer = await clinician.request('conversation:send', {
      conversationId: row.id,
      clientMessageId: randomUUID(),
      epoch: 1,
      senderDeviceSeq: 1,
      contentType: 'text',
      ciphertext: Buffer.alloc(272).toString('base64'),
      nonce: Buffer.alloc(24).toString('base64'),
    });

    expect(answer).toMatchObject({ ok: false, error: { code: 'forbidden' } });
  });

  it('refuses new conversations with at_capacity only for manager-set limits, storing nothing', async () => {
    const extra = await patientChat(nodeA.url, practice, await activatePatient(nodeA.url, practice));
    chats.push(extra);
    const count = async () =>
      (await nodeA.dataSource.query(`SELECT count(*)::int AS n FROM conversations WHERE practice_id = $1`, [practice.id]))[0].n as number;
    const before = await count();

    await manager.request('capacity:set-practice', { maxQueue: null, maxNewPerDay: null, isIntakePaused: true });
    const paused = await extra.session.openConversation('admin').catch((error: { code: string; message: string }) => error);
    await manager.request('capacity:set-practice', { maxQueue: 10, maxNewPerDay: null, isIntakePaused: false });
    const queueFull = await extra.session.openConversation('admin').catch((error: { code: string; message: string }) => error);
    await manager.request('capacity:set-practice', { maxQueue: null, maxNewPerDay: null, isIntakePaused: false });
    const open = await extra.session.openConversation('admin');

    expect(paused).toMatchObject({ code: 'at_capacity', message: expect.stringContaining('phone the practice') });
    expect(queueFull).toMatchObject({ code: 'at_capacity' });
    expect(open.status).toBe('waiting');
    expect(await count()).toBe(before + 1);
  });
});
