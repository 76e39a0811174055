import type { ParleyClient } from '@parley/client';
import { ready } from '@parley/crypto';
import type { QueuePosition } from '@parley/protocol';
import { FakeClock } from '../../src/common/clock.js';
import { startTestApp, type TestApp } from '../app.js';
import { patientChat } from '../chat.js';
import { activatePatient, assigneeOf, connectAs, createPracticeWithStaff, type TestPractice } from '../factories.js';
import { waitUntil } from '../wait.js';

describe('the wait a patient is told, from the practice’s own handling times (in-process gateway, a FakeClock)', () => {
  const clock = new FakeClock(new Date('2026-12-07T10:00:00Z'));
  let gateway: TestApp;
  let practice: TestPractice;
  let manager: ParleyClient;
  let clinician: ParleyClient;
  const open: { close(): void }[] = [];

  const openFor = async (): Promise<{ id: string; positions: QueuePosition[] }> => {
    const chat = await patientChat(gateway.url, practice, await activatePatient(gateway.url, practice));
    open.push({ close: () => void chat.session.close() });
    const positions: QueuePosition[] = [];
    chat.session.client.on('queue:position', (fact) => positions.push(fact));
    return { id: (await chat.session.openConversation('admin')).id, positions };
  };

  beforeAll(async () => {
    await ready();
    gateway = await startTestApp({}, clock);
    practice = await createPracticeWithStaff(gateway);
    manager = await connectAs(gateway.url, practice.manager, 10_000);
    clinician = await connectAs(gateway.url, practice.clinician, 10_000);
    open.push(manager, clinician);
    await manager.request('capacity:set-clinician', { clinicianId: practice.clinician.userId, maxConcurrent: 1, dailyMax: null });
    await clinician.request('staff:availability', { availability: 'available' });
  });

  afterAll(async () => {
    for (const each of open) each.close();
    await gateway.close();
  });

  it('says about 20 minutes behind one busy clinician whose recent conversations took 20 minutes each (10 was the constant before)', async () => {
    // Five conversations, each closed 20 minutes after it was assigned on the moved clock.
    for (let i = 0; i < 5; i += 1) {
      const { id } = await openFor();
      await waitUntil(async () => (await assigneeOf(gateway.dataSource, id)) === practice.clinician.userId, `history conversation ${i} to be assigned`);
      clock.advance(20 * 60_000);
      expect(await clinician.request('conversation:close', { conversationId: id, outcome: 'resolved' })).toMatchObject({ ok: true });
    }
    const busy = await openFor();
    await waitUntil(async () => (await assigneeOf(gateway.dataSource, busy.id)) === practice.clinician.userId, 'the clinician to be busy');

    const waiting = await openFor();
    await waitUntil(() => waiting.positions.length > 0, 'a queue:position for the waiting patient');

    expect(waiting.positions.at(-1)).toEqual({ conversationId: waiting.id, position: 1, estimatedWaitMinutes: 20, nextSessionAt: null });
  });

  it('acknowledges an open right after the only clinician went away without promising minutes (the estimate reads the clinicians afresh)', async () => {
    const acknowledgementOf = async (conversationId: string) =>
      (
        await gateway.dataSource.query<{ text: string }[]>(
          `SELECT system_data->>'text' AS text FROM record_entries WHERE conversation_id = $1 AND system_event = 'acknowledged'`,
          [conversationId],
        )
      )[0]?.text;
    // The clinicians' read is shared by the next opens' estimates for up to a second…
    const before = await openFor();
    expect(await acknowledgementOf(before.id)).toMatch(/about \d+ minutes/);

    // …but a change of availability made through this node is seen by the very next open.
    expect(await clinician.request('staff:availability', { availability: 'away' })).toMatchObject({ ok: true });
    const after = await openFor();

    expect(await acknowledgementOf(after.id)).toMatch(/when a clinician is next available/);
    expect(await acknowledgementOf(after.id)).not.toMatch(/minutes/);
    expect(await clinician.request('staff:availability', { availability: 'available' })).toMatchObject({ ok: true });
  });

  it('promises no minutes once the only clinician has no live connection', async () => {
    const waiting = await openFor();
    await waitUntil(() => waiting.positions.length > 0, 'a first queue:position');
    const before = waiting.positions.length;

    clinician.close();
    await waitUntil(() => waiting.positions.length > before, 'a queue:position after the disconnect');

    expect(waiting.positions.at(-1)).toMatchObject({ conversationId: waiting.id, estimatedWaitMinutes: null, nextSessionAt: null });
  });
});
