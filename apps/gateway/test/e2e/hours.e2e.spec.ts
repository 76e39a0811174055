import { ParleyClient } from '@parley/client';
import type { ErrorBody, HoursStatus, HoursView, WeeklyInterval } from '@parley/protocol';
import { DateTime } from 'luxon';
import { FakeClock } from '../../src/common/clock.js';
import { DomainError } from '../../src/common/domain-error.js';
import { HoursScheduler } from '../../src/hours/hours.scheduler.js';
import { HoursService, type PracticeClosing } from '../../src/hours/hours.service.js';
import { startTestApp, type TestApp } from '../app.js';
import { activatePatient, api, apiOk, createPracticeWithStaff, type TestPatient, type TestPractice } from '../factories.js';
import { waitUntil } from '../wait.js';

const LONDON = 'Europe/London';
/** An instant given as London wall-clock time, as an ISO string. */
const london = (local: string) => DateTime.fromISO(local, { zone: LONDON }).toUTC().toISO();
const weekdays = (start: string, end: string): WeeklyInterval[] => [1, 2, 3, 4, 5].map((weekday) => ({ weekday, start, end }));

describe('opening hours (in-process gateway, real PostgreSQL and sockets, a FakeClock)', () => {
  const clock = new FakeClock(new Date(london('2026-11-23T10:00')!));
  let gateway: TestApp;
  let practice: TestPractice;
  let patient: TestPatient;
  let hours: HoursService;
  let scheduler: HoursScheduler;
  let socket: ParleyClient;
  const statuses: HoursStatus[] = [];
  const closings: PracticeClosing[] = [];

  /** A manager's change; waits for the `hours:status` every change publishes, so no fact is still in flight afterwards. */
  const change = async (path: string, body: unknown) => {
    const count = statuses.length;
    await apiOk(gateway.url, 'PUT', path, { token: practice.manager.token, body });
    await nthStatus(count + 1);
  };
  const setWeekly = (intervals: WeeklyInterval[]) => change('/api/hours/weekly', { intervals });
  const view = () => apiOk<HoursView>(gateway.url, 'GET', '/api/hours', { token: practice.manager.token });
  const remove = (path: string, token: string) =>
    fetch(`${gateway.url}${path}`, { method: 'DELETE', headers: { authorization: `Bearer ${token}` } }).then(async (response) => ({
      status: response.status,
      body: (await response.text()) || null,
    }));
  /** Resolves with the next `hours:status` the patient's socket receives after `count` have arrived. */
  const nthStatus = async (count: number): Promise<HoursStatus> => {
    await waitUntil(
      () => statuses.length >= count,
      () => `${count} hours:status facts (${statuses.length} arrived)`,
      5_000,
    );
    return statuses[count - 1]!;
  };
  const at = async (local: string) => {
    clock.set(london(local)!);
    await scheduler.tick();
  };

  beforeAll(async () => {
    gateway = await startTestApp({}, clock);
    practice = await createPracticeWithStaff(gateway);
    patient = await activatePatient(gateway.url, practice);
    hours = gateway.app.get(HoursService);
    scheduler = gateway.app.get(HoursScheduler);
    hours.onClosing((closing) => void closings.push(closing));
    // Listen before the connection is made: the status comes right after the handshake.
    socket = ParleyClient.create({ url: gateway.url, token: patient.token, requestTimeoutMs: 3_000 });
    socket.on('hours:status', (status) => statuses.push(status));
  });

  afterAll(async () => {
    socket?.close();
    await gateway.close();
  });

  it('sends a patient the status on connect (always open without a schedule), and again when a manager changes the schedule', async () => {
    const onConnect = await nthStatus(1);

    await setWeekly(weekdays('08:00', '18:30'));
    const afterChange = await nthStatus(2);

    expect(onConnect).toEqual({
      practiceId: practice.id,
      state: 'open',
      isAcceptingNew: true,
      closesAt: null,
      newConversationsUntil: null,
      nextOpening: null,
      timeZone: LONDON,
    });
    expect(afterChange).toMatchObject({
      state: 'open',
      closesAt: london('2026-11-23T18:30'),
      newConversationsUntil: london('2026-11-23T18:15'),
      nextOpening: london('2026-11-24T08:00'),
    });
    expect(await socket.request('hours:get', {})).toEqual({ ok: true, data: afterChange });
  });

  it('says closing soon, then closed, as the clock passes them, and announces the closing once', async () => {
    await setWeekly(weekdays('08:00', '18:30'));
    const before = statuses.length;

    await at('2026-11-23T18:00');
    await at('2026-11-23T18:16');
    const closingSoon = await nthStatus(before + 1);
    await at('2026-11-23T18:30');
    const closed = await nthStatus(before + 2);
    await at('2026-11-23T18:31');

    expect(closingSoon).toMatchObject({ state: 'closing_soon', isAcceptingNew: false, closesAt: london('2026-11-23T18:30') });
    expect(closed).toMatchObject({ state: 'closed', isAcceptingNew: false, closesAt: null, nextOpening: london('2026-11-24T08:00') });
    expect(statuses).toHaveLength(before + 2);
    expect(closings).toEqual([
      { practiceId: practice.id, closedAt: new Date(london('2026-11-23T18:30')!), nextOpening: new Date(london('2026-11-24T08:00')!), timeZone: LONDON },
    ]);
  });

  it('refuses new conversations and messages in waiting ones outside hours with outside_hours naming the next opening', async () => {
    await setWeekly(weekdays('08:00', '18:30'));
    clock.set(london('2026-11-23T19:00')!);

    const refusal = await hours.assertOpenForNewConversation(practice.id).catch((error: unknown) => error);
    const message = await hours.assertMayWrite(practice.id, false).catch((error: unknown) => error);

    expect(refusal).toBeInstanceOf(DomainError);
    expect(refusal).toMatchObject({ code: 'outside_hours', details: { nextOpening: london('2026-11-24T08:00'), state: 'closed' } });
    expect((refusal as DomainError).message).toContain('Tuesday 24 November at 08:00');
    expect(message).toMatchObject({ code: 'outside_hours', details: { nextOpening: london('2026-11-24T08:00') } });
  });

  it('refuses a new conversation during the cut-off but still takes messages in waiting ones until closing', async () => {
    await setWeekly(weekdays('08:00', '18:30'));
    clock.set(london('2026-11-23T18:20')!);

    await expect(hours.assertOpenForNewConversation(practice.id)).rejects.toMatchObject({
      code: 'outside_hours',
      details: { nextOpening: london('2026-11-24T08:00') },
    });
    await expect(hours.assertMayWrite(practice.id, false)).resolves.toBeUndefined();
  });

  it('keeps taken conversations two-way after closing only as the reply window says', async () => {
    await setWeekly(weekdays('08:00', '18:30'));
    clock.set(london('2026-11-23T20:00')!);

    await expect(hours.assertMayWrite(practice.id, true)).resolves.toBeUndefined();
    await change('/api/hours/settings', { replyWindow: 'none' });
    await expect(hours.assertMayWrite(practice.id, true)).rejects.toMatchObject({ code: 'outside_hours' });
    await change('/api/hours/settings', { replyWindow: 'end_of_day' });
  });

  it('opens at the right instant on the last Sundays of March and October (Europe/London)', async () => {
    await setWeekly([{ weekday: 7, start: '09:00', end: '17:00' }]);
    const before = statuses.length;

    clock.set('2027-03-27T20:00:00Z');
    const march = (await view()).status;
    clock.set('2027-10-30T20:00:00Z');
    const october = (await view()).status;
    await at('2027-03-28T08:59');
    await at('2027-03-28T09:00');
    const opened = await nthStatus(before + 2);

    // 09:00 is 08:00 UTC in BST (from 28 March 2027) and 09:00 UTC in GMT (from 31 October 2027).
    expect(march.nextOpening).toBe('2027-03-28T08:00:00.000Z');
    expect(october.nextOpening).toBe('2027-10-31T09:00:00.000Z');
    expect(opened).toMatchObject({ state: 'open', closesAt: '2027-03-28T16:00:00.000Z' });
  });

  it('runs an interval that ends at midnight on into the next day', async () => {
    await setWeekly([
      { weekday: 5, start: '18:00', end: '24:00' },
      { weekday: 6, start: '00:00', end: '02:00' },
    ]);
    clock.set(london('2026-11-27T23:50')!);

    const { status } = await view();

    expect(status).toMatchObject({ state: 'open', isAcceptingNew: true, closesAt: london('2026-11-28T02:00'), nextOpening: london('2026-12-04T18:00') });
  });

  it('closes on a bank holiday unless an exception opens it, and removing the exception closes it again', async () => {
    await setWeekly(weekdays('08:00', '18:30'));
    clock.set(london('2026-12-25T11:00')!);
    const holiday = (await view()).status;

    await change('/api/hours/exceptions/2026-12-25', { label: 'Christmas morning cover', intervals: [{ start: '10:00', end: '12:00' }] });
    const opened = await view();
    const count = statuses.length;
    const removed = await remove('/api/hours/exceptions/2026-12-25', practice.manager.token);
    await nthStatus(count + 1);
    const again = await remove('/api/hours/exceptions/2026-12-25', practice.manager.token);
    const closedAgain = (await view()).status;

    expect(holiday).toMatchObject({ state: 'closed', nextOpening: london('2026-12-29T08:00') });
    expect(opened.status).toMatchObject({ state: 'open', closesAt: london('2026-12-25T12:00') });
    expect(opened.exceptions).toEqual([{ date: '2026-12-25', label: 'Christmas morning cover', intervals: [{ start: '10:00', end: '12:00' }] }]);
    expect(opened.bankHolidays.slice(0, 2)).toEqual([
      { date: '2026-12-25', title: 'Christmas Day' },
      { date: '2026-12-28', title: 'Boxing Day' },
    ]);
    expect(removed.status).toBe(204);
    expect(JSON.parse(again.body!)).toMatchObject({ error: { code: 'not_found' } });
    expect(closedAgain.state).toBe('closed');
  });

  it('records every change in the audit trail with ids and codes only', async () => {
    await change('/api/hours/exceptions/2027-01-04', { label: 'Staff training: secret label', intervals: [] });

    const rows: { action: string; data: unknown }[] = await gateway.dataSource.query(
      `SELECT action, data FROM audit_events WHERE practice_id = $1 AND action = 'hours.changed' ORDER BY id`,
      [practice.id],
    );

    expect(rows.length).toBeGreaterThan(5);
    expect(rows.at(-1)).toEqual({ action: 'hours.changed', data: { what: 'exception_set', date: '2027-01-04', intervals: 0 } });
    expect(JSON.stringify(rows)).not.toContain('secret');
  });

  it('refuses patients and clinicians every manager route with forbidden, changing nothing', async () => {
    await setWeekly(weekdays('08:00', '18:30'));
    const before = await view();

    const answers = [];
    for (const token of [patient.token, practice.clinician.token]) {
      answers.push(await api(gateway.url, 'PUT', '/api/hours/weekly', { token, body: { intervals: [] } }));
      answers.push(await api(gateway.url, 'PUT', '/api/hours/exceptions/2027-01-05', { token, body: { label: 'Closed', intervals: [] } }));
      answers.push(await api(gateway.url, 'PUT', '/api/hours/settings', { token, body: { cutoffMinutes: 0 } }));
      answers.push({ status: (await remove('/api/hours/exceptions/2027-01-04', token)).status });
    }
    const patientView = await apiOk<HoursView>(gateway.url, 'GET', '/api/hours', { token: patient.token });

    expect(answers.map((answer) => answer.status)).toEqual(Array(8).fill(403));
    expect((answers[0]!.body as { error: ErrorBody }).error.code).toBe('forbidden');
    expect(await view()).toEqual(before);
    expect(patientView.weekly).toEqual(before.weekly);
  });

  it('answers malformed bodies, times, dates and settings with invalid_payload, changing nothing', async () => {
    await setWeekly(weekdays('08:00', '18:30'));
    const before = await view();
    const token = practice.manager.token;

    const answers = await Promise.all([
      api(gateway.url, 'PUT', '/api/hours/weekly', {
        token,
        body: {
          intervals: [
            { weekday: 1, start: '08:00', end: '12:00' },
            { weekday: 1, start: '11:00', end: '13:00' },
          ],
        },
      }),
      api(gateway.url, 'PUT', '/api/hours/weekly', { token, body: { intervals: [{ weekday: 1, start: '12:00', end: '08:00' }] } }),
      api(gateway.url, 'PUT', '/api/hours/weekly', { token, body: { intervals: [{ weekday: 8, start: '08:00', end: '12:00' }] } }),
      api(gateway.url, 'PUT', '/api/hours/weekly', { token, body: { intervals: [{ weekday: 1, start: '24:00', end: '24:00' }] } }),
      api(gateway.url, 'PUT', '/api/hours/weekly', { token, body: { intervals: [{ weekday: 1, start: '8:00', end: '12:00' }] } }),
      api(gateway.url, 'PUT', '/api/hours/weekly', { token, body: { intervals: [], sneaky: true } }),
      api(gateway.url, 'PUT', '/api/hours/weekly', { token, rawBody: '{"intervals": [' }),
      api(gateway.url, 'PUT', '/api/hours/exceptions/2027-02-30', { token, body: { label: 'Closed', intervals: [] } }),
      api(gateway.url, 'PUT', '/api/hours/exceptions/tomorrow', { token, body: { label: 'Closed', intervals: [] } }),
      api(gateway.url, 'PUT', '/api/hours/exceptions/2027-02-01', { token, body: { label: '', intervals: [] } }),
      api(gateway.url, 'PUT', '/api/hours/settings', { token, body: {} }),
      api(gateway.url, 'PUT', '/api/hours/settings', { token, body: { timeZone: 'Mars/Olympus_Mons' } }),
      api(gateway.url, 'PUT', '/api/hours/settings', { token, body: { cutoffMinutes: -5 } }),
      api(gateway.url, 'PUT', '/api/hours/settings', { token, body: { replyWindow: 'anything_goes' } }),
    ]);
    const socketAnswers = [await socket.requestRaw('hours:get', null), await socket.requestRaw('hours:get', { extra: 1 })];

    expect(answers.map((answer) => [answer.status, (answer.body as { error: ErrorBody }).error.code])).toEqual(Array(14).fill([400, 'invalid_payload']));
    expect(socketAnswers).toEqual(Array(2).fill({ ok: false, error: expect.objectContaining({ code: 'invalid_payload' }) }));
    expect(await view()).toEqual(before);
  });

  it('applies settings: a longer cut-off, and a new time zone', async () => {
    await setWeekly(weekdays('08:00', '18:30'));
    clock.set(london('2026-11-23T10:00')!);

    await change('/api/hours/settings', { cutoffMinutes: 60, timeZone: 'Europe/Dublin' });
    const changed = await view();
    await change('/api/hours/settings', { cutoffMinutes: 15, timeZone: LONDON });

    expect(changed.settings).toEqual({
      timeZone: 'Europe/Dublin',
      cutoffMinutes: 60,
      closingSoonMinutes: 15,
      replyWindow: 'end_of_day',
      observesBankHolidays: true,
    });
    expect(changed.status).toMatchObject({ timeZone: 'Europe/Dublin', newConversationsUntil: london('2026-11-23T17:30') });
  });
});
