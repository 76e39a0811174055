import { ParleyClient } from '@parley/client';
import { ready } from '@parley/crypto';
import { IDLE_TIMEOUTS } from '../../src/sessions/sessions.service.js';
import { heardOn, sessionIdOf, startTestApp, type TestApp } from '../app.js';
import { activatePatient, api, connectAs, createPracticeWithStaff, sessionEnded, signIn, stopped, type SignedIn, type TestPractice } from '../factories.js';

// docs/threat-model.md, "Sessions": besides its 12-hour expiry a session ends after 30 minutes unused for staff
// and 60 for patients. Time is moved in the database (last_seen_at), as sessions.e2e.spec.ts moves expires_at.

describe('idle sessions (in-process gateway, real PostgreSQL and sockets)', () => {
  let gateway: TestApp;
  let practice: TestPractice;
  const clients: ParleyClient[] = [];
  const connect = async (signedIn: { token: string }) => {
    const client = await connectAs(gateway.url, signedIn);
    clients.push(client);
    return client;
  };
  const tokenHash = `sha256(convert_to($1, 'UTF8'))`;
  /**
   * Moves the session's last use back in time (seconds accepted, to land just before an idle deadline), and waits
   * until the gateway heard of it: the handshake cached the session, and the next command would race the NOTIFY.
   */
  const lastUsed = async (who: SignedIn, secondsAgo: number) => {
    const heard = heardOn(gateway, 'session', await sessionIdOf(gateway, who.token));
    await gateway.dataSource.query(`UPDATE sessions SET last_seen_at = now() - make_interval(secs => $2) WHERE token_hash = ${tokenHash}`, [
      who.token,
      secondsAgo,
    ]);
    await heard;
  };
  const lastSeenAgeSeconds = async (who: SignedIn): Promise<number> =>
    (
      await gateway.dataSource.query(`SELECT extract(epoch FROM now() - last_seen_at)::float8 AS age FROM sessions WHERE token_hash = ${tokenHash}`, [
        who.token,
      ])
    )[0].age;
  const staffSession = () => signIn(gateway.url, { practice: practice.odsCode, login: practice.clinician.email });
  const minutes = (n: number) => n * 60;

  beforeAll(async () => {
    await ready();
    gateway = await startTestApp();
    practice = await createPracticeWithStaff(gateway);
  });

  afterAll(async () => {
    for (const client of clients) client.close();
    await gateway.close();
  });

  it('ends a staff session unused for 30 minutes, while a patient session lasts 60', async () => {
    const staff = await staffSession();
    const patient = await activatePatient(gateway.url, practice);
    const idlePatient = await activatePatient(gateway.url, practice);
    await lastUsed(staff, minutes(IDLE_TIMEOUTS.staffMinutes) + 5);
    await lastUsed(patient, minutes(45));
    await lastUsed(idlePatient, minutes(IDLE_TIMEOUTS.patientMinutes) + 5);

    const staffHttp = await api(gateway.url, 'GET', '/api/devices', { token: staff.token });
    const staffSocket = await ParleyClient.connect({ url: gateway.url, token: staff.token }).catch((error: unknown) => error);
    const patientHttp = await api(gateway.url, 'GET', '/api/devices', { token: patient.token });
    const idlePatientHttp = await api(gateway.url, 'GET', '/api/devices', { token: idlePatient.token });

    expect(staffHttp).toEqual({ status: 401, body: { error: { code: 'unauthorized', message: 'Sign in first.' } } });
    expect(staffSocket).toMatchObject({ code: 'unauthorized' });
    expect(patientHttp.status).toBe(200);
    expect(idlePatientHttp.status).toBe(401);
  });

  it('refuses the next command of a socket whose session went idle, tells it why and closes it', async () => {
    const staff = await staffSession();
    const client = await connect(staff);
    const reason = sessionEnded(client);
    await lastUsed(staff, minutes(IDLE_TIMEOUTS.staffMinutes) + 5);

    const refused = await client.request('system:ping', {});

    expect(refused).toEqual({ ok: false, error: { code: 'unauthorized', message: 'Sign in first.' } });
    expect(await reason).toBe('expired');
    expect((await stopped(client)).code).toBe('session_ended');
  });

  it('counts a socket command as use, writing last_seen_at at most once a minute however many commands come', async () => {
    const staff = await staffSession();
    const client = await connect(staff);
    await lastUsed(staff, minutes(IDLE_TIMEOUTS.staffMinutes) - 60);

    const first = await client.request('system:ping', {});
    const ageAfterFirst = await lastSeenAgeSeconds(staff);
    const [{ xmin: before }] = await gateway.dataSource.query(`SELECT xmin::text FROM sessions WHERE token_hash = ${tokenHash}`, [staff.token]);
    const more = await Promise.all(Array.from({ length: 20 }, () => client.request('system:ping', {})));
    const [{ xmin: after }] = await gateway.dataSource.query(`SELECT xmin::text FROM sessions WHERE token_hash = ${tokenHash}`, [staff.token]);
    await lastUsed(staff, minutes(IDLE_TIMEOUTS.staffMinutes) - 60);
    const httpUse = await api(gateway.url, 'GET', '/api/devices', { token: staff.token });

    expect(first.ok).toBe(true);
    expect(ageAfterFirst).toBeLessThan(5);
    expect(more.every((answer) => answer.ok)).toBe(true);
    // No row version was written by the twenty commands inside the minute.
    expect(after).toBe(before);
    expect(httpUse.status).toBe(200);
    expect(await lastSeenAgeSeconds(staff)).toBeLessThan(5);
  });

  it('closes a connected socket when its session goes idle, with no command to notice it', async () => {
    const staff = await staffSession();
    // The handshake arms the socket's timer for the session's end; the database then moves that end 2 s away by idleness.
    await gateway.dataSource.query(`UPDATE sessions SET expires_at = now() + interval '1 second' WHERE token_hash = ${tokenHash}`, [staff.token]);
    const client = await connect(staff);
    const reason = sessionEnded(client);
    await gateway.dataSource.query(`UPDATE sessions SET expires_at = now() + interval '1 hour' WHERE token_hash = ${tokenHash}`, [staff.token]);
    await lastUsed(staff, minutes(IDLE_TIMEOUTS.staffMinutes) - 2);

    expect(await reason).toBe('expired');
    expect((await stopped(client)).code).toBe('session_ended');
    // The timer's own checks are not use: the session stays ended.
    expect((await api(gateway.url, 'GET', '/api/devices', { token: staff.token })).status).toBe(401);
  });
});
