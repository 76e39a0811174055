import { randomUUID } from 'node:crypto';
import type { ParleyClient } from '@parley/client';
import { ready } from '@parley/crypto';
import type { ClinicianState, CodeIssued } from '@parley/protocol';
import { startTestApp, type TestApp } from '../app.js';
import { openByNewPatient, type Chatter } from '../chat.js';
import { activateStaff, api, apiOk, assigneeOf, connectAs, createPracticeWithStaff, type TestPractice, type TestStaff } from '../factories.js';
import { waitUntil } from '../wait.js';

describe('new work only for clinicians with a live connection; every clinician in the queue snapshot (in-process gateway)', () => {
  let gateway: TestApp;
  let practice: TestPractice;
  let manager: ParleyClient;
  const open: { close(): void }[] = [];

  const newClinician = async (displayName: string): Promise<{ issued: CodeIssued; email: string }> => {
    const email = `clinician.${randomUUID().slice(0, 8)}@test.parley`;
    const issued = await apiOk<CodeIssued>(
      gateway.url,
      'POST',
      '/api/staff',
      { token: practice.manager.token, body: { displayName, email, roles: ['clinician'] } },
      201,
    );
    return { issued, email };
  };
  const onShift = async (displayName: string): Promise<{ staff: TestStaff; client: ParleyClient }> => {
    const { issued, email } = await newClinician(displayName);
    const staff = await activateStaff(gateway.url, practice.odsCode, issued.code, { userId: issued.userId, email, roles: ['clinician'] });
    const client = await tab(staff);
    await client.request('staff:availability', { availability: 'available' });
    return { staff, client };
  };
  const tab = async (staff: TestStaff): Promise<ParleyClient> => {
    const client = await connectAs(gateway.url, staff, 10_000);
    open.push(client);
    await waitUntil(async () => (await stateOf(staff.userId))?.isConnected === true, 'the connection to be noted');
    return client;
  };
  const stateOf = async (userId: string): Promise<ClinicianState | undefined> => {
    const snapshot = await manager.request('queue:list', {});
    return snapshot.ok ? snapshot.data.clinicians.find((c) => c.clinicianId === userId) : undefined;
  };
  const openFor = () => openByNewPatient(gateway.url, practice, open);
  /** Routing has run for everything opened so far (the acknowledgement comes before routing; a queue:position only once it waits). */
  const settled = (chat: Chatter) => waitUntil(() => chat.entries.length >= 2, 'the open to be acknowledged');

  beforeAll(async () => {
    await ready();
    gateway = await startTestApp({ CLINICIAN_GRACE_SECONDS: '600' });
    practice = await createPracticeWithStaff(gateway);
    manager = await connectAs(gateway.url, practice.manager, 10_000);
    open.push(manager);
  });

  afterAll(async () => {
    for (const each of open) each.close();
    await gateway.close();
  });

  it('lists every active clinician, including one who never signed in, whose caps a manager can set before the shift', async () => {
    const { issued } = await newClinician('Nurse Ada Lovelace');

    const capped = await manager.request('capacity:set-clinician', { clinicianId: issued.userId, maxConcurrent: 5, dailyMax: 20 });
    const snapshot = await manager.request('queue:list', {});

    expect(capped).toEqual({ ok: true, data: null });
    const names = snapshot.ok ? snapshot.data.clinicians.map((c) => c.displayName) : [];
    expect(names).toEqual([...names].sort((a, b) => a.localeCompare(b)));
    expect(snapshot.ok && snapshot.data.clinicians.find((c) => c.clinicianId === issued.userId)).toEqual({
      clinicianId: issued.userId,
      displayName: 'Nurse Ada Lovelace',
      availability: 'offline',
      isConnected: false,
      active: 0,
      maxConcurrent: 5,
      today: 0,
      dailyMax: 20,
    });
    expect(snapshot.ok && snapshot.data.clinicians.find((c) => c.clinicianId === practice.clinician.userId)).toMatchObject({
      availability: 'offline',
      isConnected: false,
      maxConcurrent: 3,
    });
  });

  it('makes a clinician who signs out offline at once: their conversations go back to the queue and nothing new reaches them', async () => {
    const leaving = await onShift('Dr Leaving');
    const before = await openFor();
    await waitUntil(async () => (await assigneeOf(gateway.dataSource, before.id)) === leaving.staff.userId, 'the assignment');

    const signedOut = await api(gateway.url, 'POST', '/api/auth/sign-out', { token: leaving.staff.token });
    await waitUntil(async () => (await stateOf(leaving.staff.userId))?.availability === 'offline', 'the clinician to be offline');
    const after = await openFor();
    await settled(after.chat);

    expect(signedOut.status).toBe(204);
    expect(await stateOf(leaving.staff.userId)).toMatchObject({ availability: 'offline', isConnected: false, active: 0 });
    expect(await assigneeOf(gateway.dataSource, before.id)).toBeNull();
    expect(await assigneeOf(gateway.dataSource, after.id)).toBeNull();
    for (const id of [before.id, after.id]) await manager.request('conversation:close', { conversationId: id, outcome: 'resolved' });
  });

  it('gives a clinician whose last tab closed no new conversation while the grace period keeps the ones they have, until they are back', async () => {
    const onCall = await onShift('Dr On Call');
    const secondTab = await tab(onCall.staff);
    const first = await openFor();
    await waitUntil(async () => (await assigneeOf(gateway.dataSource, first.id)) === onCall.staff.userId, 'the first assignment');

    onCall.client.close();
    const withOneTab = await openFor();
    await waitUntil(async () => (await assigneeOf(gateway.dataSource, withOneTab.id)) === onCall.staff.userId, 'an assignment while one tab is open');
    secondTab.close();
    await waitUntil(async () => (await stateOf(onCall.staff.userId))?.isConnected === false, 'the last tab to be gone');
    const whileAway = await openFor();
    await settled(whileAway.chat);
    const assigneeWhileAway = await assigneeOf(gateway.dataSource, whileAway.id);

    expect(await stateOf(onCall.staff.userId)).toMatchObject({ availability: 'available', isConnected: false, active: 2 });
    expect(assigneeWhileAway).toBeNull();
    expect(await assigneeOf(gateway.dataSource, first.id)).toBe(onCall.staff.userId);

    await tab(onCall.staff);
    await waitUntil(async () => (await assigneeOf(gateway.dataSource, whileAway.id)) === onCall.staff.userId, 'the waiting conversation once they are back');
  });

  it('refuses a transfer to a colleague who is available but has no live connection', async () => {
    const from = await onShift('Dr From');
    const to = await onShift('Dr To');
    await to.client.request('staff:availability', { availability: 'away' });
    const { id } = await openFor();
    await waitUntil(async () => (await assigneeOf(gateway.dataSource, id)) === from.staff.userId, 'the assignment');
    await to.client.request('staff:availability', { availability: 'available' });
    to.client.close();
    await waitUntil(async () => (await stateOf(to.staff.userId))?.isConnected === false, 'the colleague to be disconnected');

    const answer = await from.client.request('conversation:transfer', { conversationId: id, to: { clinicianId: to.staff.userId } });

    expect(answer).toMatchObject({ ok: false, error: { code: 'at_capacity' } });
    expect(await assigneeOf(gateway.dataSource, id)).toBe(from.staff.userId);
  });
});
