import { randomUUID } from 'node:crypto';
import type { ParleyClient } from '@parley/client';
import { ready } from '@parley/crypto';
import type { CodeIssued } from '@parley/protocol';
import { FakeClock } from '../../src/common/clock.js';
import { CapacityService } from '../../src/capacity/capacity.service.js';
import { startTestApp, type TestApp } from '../app.js';
import { holdingConversation } from '../database.js';
import { openByNewPatient, type Chatter } from '../chat.js';
import { activateStaff, apiOk, assigneeOf, connectAs, createPracticeWithStaff, type TestPractice, type TestStaff } from '../factories.js';
import { waitUntil } from '../wait.js';

describe('a clinician who goes away or disconnects (in-process gateway, a FakeClock)', () => {
  const clock = new FakeClock(new Date('2026-11-23T10:00:00Z'));
  let gateway: TestApp;
  let practice: TestPractice;
  let manager: ParleyClient;
  const open: { close(): void }[] = [];

  const clinician = async ({ isAvailable = true } = {}): Promise<{ staff: TestStaff; client: ParleyClient }> => {
    const email = `clinician.${randomUUID().slice(0, 8)}@test.parley`;
    const issued = await apiOk<CodeIssued>(
      gateway.url,
      'POST',
      '/api/staff',
      { token: practice.manager.token, body: { displayName: 'Dr On Call', email, roles: ['clinician'] } },
      201,
    );
    const staff = await activateStaff(gateway.url, practice.odsCode, issued.code, { userId: issued.userId, email, roles: ['clinician'] });
    const client = await connectAs(gateway.url, staff, 10_000);
    open.push(client);
    if (isAvailable) await client.request('staff:availability', { availability: 'available' });
    return { staff, client };
  };

  const events = (who: Chatter) => who.entries.flatMap((entry) => (entry.ok && entry.value.kind === 'system' ? [entry.value.event] : []));
  const openFor = () => openByNewPatient(gateway.url, practice, open);

  beforeAll(async () => {
    await ready();
    gateway = await startTestApp({ CLINICIAN_GRACE_SECONDS: '120' }, clock);
    practice = await createPracticeWithStaff(gateway);
    manager = await connectAs(gateway.url, practice.manager, 10_000);
    open.push(manager);
  });

  afterAll(async () => {
    for (const each of open) each.close();
    await gateway.close();
  });

  it('hands the conversations of a clinician who goes away back to the queue head, to a free colleague, and tells the patient', async () => {
    const first = await clinician();
    const { chat, id } = await openFor();
    await waitUntil(async () => (await assigneeOf(gateway.dataSource, id)) === first.staff.userId, 'the first assignment');
    const second = await clinician();

    await first.client.request('staff:availability', { availability: 'away' });
    await waitUntil(async () => (await assigneeOf(gateway.dataSource, id)) === second.staff.userId, 'the reassignment');
    await waitUntil(() => events(chat).includes('requeued') && events(chat).filter((e) => e === 'assigned').length === 2, 'the patient to be told');

    expect(events(chat)).toEqual(['opened', 'acknowledged', 'assigned', 'requeued', 'assigned']);
    await second.client.request('staff:availability', { availability: 'away' });
  });

  it('keeps the work of a clinician who reconnects within the grace period, and returns it once the period has passed', async () => {
    const onCall = await clinician();
    const { chat, id } = await openFor();
    await waitUntil(async () => (await assigneeOf(gateway.dataSource, id)) === onCall.staff.userId, 'the assignment');
    const queue = gateway.app.get(CapacityService);

    onCall.client.close();
    await waitUntil(
      async () =>
        (await gateway.dataSource.query(`SELECT disconnected_at FROM clinician_capacity WHERE user_id = $1`, [onCall.staff.userId]))[0].disconnected_at !==
        null,
      'the disconnect to be noted',
    );
    clock.advance(60_000);
    await queue.returnWorkOfDeparted();
    const afterOneMinute = await assigneeOf(gateway.dataSource, id);
    const back = await connectAs(gateway.url, onCall.staff, 10_000);
    open.push(back);
    await waitUntil(
      async () =>
        (await gateway.dataSource.query(`SELECT disconnected_at FROM clinician_capacity WHERE user_id = $1`, [onCall.staff.userId]))[0].disconnected_at ===
        null,
      'the reconnection to be noted',
    );
    clock.advance(600_000);
    await queue.returnWorkOfDeparted();
    const afterReconnecting = await assigneeOf(gateway.dataSource, id);

    back.close();
    await waitUntil(
      async () =>
        (await gateway.dataSource.query(`SELECT disconnected_at FROM clinician_capacity WHERE user_id = $1`, [onCall.staff.userId]))[0].disconnected_at !==
        null,
      'the second disconnect',
    );
    clock.advance(121_000);
    await queue.returnWorkOfDeparted();
    const [row] = await gateway.dataSource.query(`SELECT status, assigned_clinician_id FROM conversations WHERE id = $1`, [id]);
    const [{ availability }] = await gateway.dataSource.query(`SELECT availability FROM clinician_capacity WHERE user_id = $1`, [onCall.staff.userId]);
    await waitUntil(() => events(chat).includes('requeued'), 'the patient to be told');

    expect(afterOneMinute).toBe(onCall.staff.userId);
    expect(afterReconnecting).toBe(onCall.staff.userId);
    expect(row).toEqual({ status: 'waiting', assigned_clinician_id: null });
    expect(availability).toBe('offline');
    expect(
      await gateway.dataSource.query(`SELECT count(*)::int AS n FROM audit_events WHERE action = 'conversation.requeued' AND conversation_id = $1`, [id]),
    ).toEqual([{ n: 1 }]);
  });

  it('gives a waiting patient to a clinician who becomes available while another transaction holds the conversation: at once past a receipt, soon after a record write', async () => {
    const late = await clinician({ isAvailable: false });
    // Room for these two and for whatever the tests before left waiting.
    expect(await manager.request('capacity:set-clinician', { clinicianId: late.staff.userId, maxConcurrent: 10, dailyMax: null })).toEqual({
      ok: true,
      data: null,
    });
    const first = await openFor();
    const second = await openFor();

    // A receipt being stored (its foreign-key check holds the row FOR KEY SHARE) does not keep the patient waiting.
    let available: ReturnType<ParleyClient['request']> | undefined;
    let pastReceipt: string | null = null;
    await holdingConversation(gateway.dataSource, first.id, 'KEY SHARE', async () => {
      available = late.client.request('staff:availability', { availability: 'available' });
      await waitUntil(async () => (await assigneeOf(gateway.dataSource, first.id)) !== null, 'the assignment past the receipt', 5_000);
      pastReceipt = await assigneeOf(gateway.dataSource, first.id);
    });
    expect(await available).toEqual({ ok: true, data: null });
    // The record writer holds the row FOR NO KEY UPDATE: the pass passes it over, and routes it again once the write is
    // done, with nothing else happening at the practice.
    await late.client.request('staff:availability', { availability: 'away' });
    const afterAway = [await assigneeOf(gateway.dataSource, first.id), await assigneeOf(gateway.dataSource, second.id)];
    let duringWrite: (string | null)[] = [];
    await holdingConversation(gateway.dataSource, first.id, 'NO KEY UPDATE', async () => {
      await late.client.request('staff:availability', { availability: 'available' });
      duringWrite = [await assigneeOf(gateway.dataSource, first.id), await assigneeOf(gateway.dataSource, second.id)];
    });
    await waitUntil(async () => (await assigneeOf(gateway.dataSource, first.id)) === late.staff.userId, 'the passed-over conversation to be assigned', 5_000);

    expect(pastReceipt).toBe(late.staff.userId);
    expect(afterAway).toEqual([null, null]);
    expect(duringWrite).toEqual([null, late.staff.userId]);
    expect(await assigneeOf(gateway.dataSource, second.id)).toBe(late.staff.userId);
    await late.client.request('staff:availability', { availability: 'away' });
  });
});
