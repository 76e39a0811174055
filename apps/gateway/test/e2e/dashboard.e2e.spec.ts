import type { ParleyClient } from '@parley/client';
import { ready } from '@parley/crypto';
import type { Dashboard, QueueSnapshot } from '@parley/protocol';
import { startTestApp, type TestApp } from '../app.js';
import { patientChat, type Chatter } from '../chat.js';
import { activatePatient, connectAs, createPracticeWithManager, createPracticeWithStaff, type TestPractice } from '../factories.js';
import { waitUntil } from '../wait.js';

describe('the manager dashboard, dashboard:get (in-process gateway, real PostgreSQL, real sockets)', () => {
  let gateway: TestApp;
  let practice: TestPractice;
  let manager: ParleyClient;
  let clinician: ParleyClient;
  const chats: Chatter[] = [];
  const sockets: ParleyClient[] = [];

  const dashboard = async (client: ParleyClient): Promise<Dashboard> => {
    const answer = await client.request('dashboard:get', {});
    if (!answer.ok) throw new Error(`dashboard:get answered ${answer.error.code}`);
    return answer.data;
  };
  const openAsNewPatient = async () => {
    const chat = await patientChat(gateway.url, practice, await activatePatient(gateway.url, practice), 10_000);
    chats.push(chat);
    return chat.session.openConversation('admin');
  };

  beforeAll(async () => {
    await ready();
    gateway = await startTestApp();
    practice = await createPracticeWithStaff(gateway);
    manager = await connectAs(gateway.url, practice.manager, 10_000);
    clinician = await connectAs(gateway.url, practice.clinician, 10_000);
    sockets.push(manager, clinician);
    await manager.request('capacity:set-clinician', { clinicianId: practice.clinician.userId, maxConcurrent: 1, dailyMax: null });
    await clinician.request('staff:availability', { availability: 'available' });
  });

  afterAll(async () => {
    for (const chat of chats) await chat.session.close();
    for (const socket of sockets) socket.close();
    await gateway.close();
  });

  it('shows the queue, each clinician’s load against cap, and today’s volumes and waits per local hour', async () => {
    const first = await openAsNewPatient();
    await waitUntil(
      async () => (await gateway.dataSource.query(`SELECT status FROM conversations WHERE id = $1`, [first.id]))[0].status === 'assigned',
      'the first assignment',
    );
    const second = await openAsNewPatient();

    const seen = await dashboard(manager);

    expect(seen).toMatchObject({ practiceId: practice.id, timeZone: 'Europe/London', waitingCount: 1 });
    expect(seen.queue.waiting.map((entry) => entry.conversationId)).toEqual([second.id]);
    expect(seen.longestWaitingSeconds).toBeGreaterThanOrEqual(0);
    expect(seen.longestWaitingSeconds).toBeLessThan(120);
    expect(seen.queue.clinicians).toEqual([
      expect.objectContaining({ clinicianId: practice.clinician.userId, availability: 'available', active: 1, maxConcurrent: 1, today: 1 }),
    ]);
    expect(seen.today).toMatchObject({ opened: 2, answered: 1, closed: 0 });
    expect(seen.today.medianWaitSeconds).toEqual(seen.today.longestWaitSeconds);
    expect(seen.hours.reduce((sum, hour) => sum + hour.opened, 0)).toBe(2);
    expect(seen.hours.every((hour) => hour.hour >= 0 && hour.hour <= 23)).toBe(true);
    const londonHour = Number(
      new Intl.DateTimeFormat('en-GB', { timeZone: 'Europe/London', hour: '2-digit', hourCycle: 'h23' }).format(new Date(seen.generatedAt)),
    );
    expect(seen.hours.at(-1)?.hour).toBe(londonHour);
  });

  it('stays live through queue:updated: a manager who re-reads on it sees the new figures', async () => {
    const updated = new Promise<QueueSnapshot>((resolve) => manager.on('queue:updated', resolve));

    const third = await openAsNewPatient();
    const snapshot = await updated;
    await waitUntil(async () => (await dashboard(manager)).waitingCount === 2, 'the dashboard to count two waiting');
    const seen = await dashboard(manager);

    expect(snapshot.practiceId).toBe(practice.id);
    expect(seen.queue.waiting.map((entry) => entry.conversationId)).toContain(third.id);
    expect(seen.today.opened).toBe(3);
  });

  it('refuses patients and clinicians, and shows another practice’s manager only their own practice', async () => {
    const other = await createPracticeWithManager(gateway, { name: 'Hillside Surgery' });
    const otherManager = await connectAs(gateway.url, other.manager, 10_000);
    sockets.push(otherManager);

    const answers = [await clinician.request('dashboard:get', {}), await chats[0]!.session.client.request('dashboard:get', {})];
    const theirs = await dashboard(otherManager);

    expect(answers.map((answer) => (answer.ok ? 'ok' : answer.error.code))).toEqual(['forbidden', 'forbidden']);
    expect(theirs).toMatchObject({ practiceId: other.id, waitingCount: 0, today: { opened: 0, answered: 0, closed: 0, medianWaitSeconds: null }, hours: [] });
    expect(theirs.queue).toMatchObject({ waiting: [], clinicians: [] });
  });

  it.each([[{ practiceId: '00000000-0000-4000-8000-000000000000' }], [null], ['all']])('answers %j with invalid_payload', async (payload) => {
    const answer = await manager.request('dashboard:get', payload as never);

    expect(answer).toMatchObject({ ok: false, error: { code: 'invalid_payload' } });
  });
});
