import { ParleyClient } from '@parley/client';
import { ready } from '@parley/crypto';
import type { Server } from 'socket.io';
import { SessionEventsGateway } from '../../src/sessions/session-events.gateway.js';
import { rooms } from '../../src/common/rooms.js';
import { heardOn, sessionIdOf, startTestApp, type TestApp } from '../app.js';
import { activatePatient, api, connectAs, createPracticeWithStaff, sessionEnded, signIn, stopped, type TestPractice } from '../factories.js';

describe('sessions on sockets and HTTP (in-process gateway, real PostgreSQL and sockets)', () => {
  let gateway: TestApp;
  let practice: TestPractice;
  const clients: ParleyClient[] = [];
  const connect = async (signedIn: { token: string }) => {
    const client = await connectAs(gateway.url, signedIn);
    clients.push(client);
    return client;
  };
  const expireSession = (token: string, expiresIn: string) =>
    gateway.dataSource.query(
      `UPDATE sessions SET created_at = now() - interval '13 hours', expires_at = now() + $2::interval WHERE token_hash = sha256(convert_to($1, 'UTF8'))`,
      [token, expiresIn],
    );

  beforeAll(async () => {
    await ready();
    gateway = await startTestApp();
    practice = await createPracticeWithStaff(gateway);
  });

  afterAll(async () => {
    for (const client of clients) client.close();
    await gateway.close();
  });

  describe('the handshake', () => {
    it('accepts a live session and answers its commands', async () => {
      const patient = await activatePatient(gateway.url, practice);

      const client = await connect(patient);
      const pong = await client.request('system:ping', {});

      expect(client.isConnected).toBe(true);
      expect(pong.ok).toBe(true);
    });

    it('refuses no token, a malformed one and an unknown one as unauthorized', async () => {
      const attempts = await Promise.all(
        [undefined, 'not a token', 'A'.repeat(43)].map((token) => ParleyClient.connect({ url: gateway.url, token }).catch((error: unknown) => error)),
      );

      for (const attempt of attempts) expect(attempt).toMatchObject({ code: 'unauthorized' });
    });

    it('refuses an expired session and a revoked device, which HTTP refuses too', async () => {
      const patient = await activatePatient(gateway.url, practice);
      const other = await signIn(gateway.url, { practice: practice.odsCode, login: patient.nhsNumber });
      await expireSession(patient.token, '-1 second');
      await api(gateway.url, 'POST', `/api/devices/${other.session.deviceId}/revoke`, { token: other.token });

      const expiredSocket = await ParleyClient.connect({ url: gateway.url, token: patient.token }).catch((error: unknown) => error);
      const revokedSocket = await ParleyClient.connect({ url: gateway.url, token: other.token }).catch((error: unknown) => error);
      const expiredHttp = await api(gateway.url, 'GET', '/api/devices', { token: patient.token });
      const revokedHttp = await api(gateway.url, 'GET', '/api/devices', { token: other.token });

      expect(expiredSocket).toMatchObject({ code: 'unauthorized' });
      expect(revokedSocket).toMatchObject({ code: 'unauthorized' });
      expect(expiredHttp).toEqual({ status: 401, body: { error: { code: 'unauthorized', message: 'Sign in first.' } } });
      expect(revokedHttp.status).toBe(401);
    });

    it('puts the socket in its user, device and session rooms, and staff in their practice room', async () => {
      const patient = await activatePatient(gateway.url, practice);
      await connect(patient);
      await connect(practice.clinician);
      const io = (gateway.app.get(SessionEventsGateway) as unknown as { server: Server }).server;
      const sessionId = await sessionIdOf(gateway, patient.token);

      const inRoom = async (room: string) => (await io.in(room).fetchSockets()).length;

      expect(await inRoom(rooms.user(patient.userId))).toBe(1);
      expect(await inRoom(rooms.device(patient.deviceId))).toBe(1);
      expect(await inRoom(rooms.session(sessionId))).toBe(1);
      expect(await inRoom(rooms.practiceStaff(practice.id))).toBe(1);
    });
  });

  describe('HTTP without a good bearer token', () => {
    it('answers unauthorized for a missing, malformed or unknown token', async () => {
      const missing = await api(gateway.url, 'GET', '/api/devices');
      const malformed = await api(gateway.url, 'GET', '/api/devices', { headers: { authorization: 'Basic abc' } });
      const unknown = await api(gateway.url, 'GET', '/api/devices', { token: 'B'.repeat(43) });

      for (const response of [missing, malformed, unknown]) expect(response).toMatchObject({ status: 401, body: { error: { code: 'unauthorized' } } });
    });
  });

  describe('ending a session while its socket is connected', () => {
    it('tells the sockets of a revoked device why, closes them, and refuses them again', async () => {
      const patient = await activatePatient(gateway.url, practice);
      const second = await signIn(gateway.url, { practice: practice.odsCode, login: patient.nhsNumber });
      const onRevoked = await connect(patient);
      const onOther = await connect(second);
      const reason = sessionEnded(onRevoked);

      await api(gateway.url, 'POST', `/api/devices/${patient.deviceId}/revoke`, { token: second.token });

      expect(await reason).toBe('device_revoked');
      expect((await stopped(onRevoked)).code).toBe('session_ended');
      expect(onRevoked.isConnected).toBe(false);
      expect((await onRevoked.request('system:ping', {})).ok).toBe(false);
      await expect(ParleyClient.connect({ url: gateway.url, token: patient.token })).rejects.toMatchObject({ code: 'unauthorized' });
      expect((await onOther.request('system:ping', {})).ok).toBe(true);
    });

    it('closes only the signed-out session, and every session on sign-out-everywhere', async () => {
      const patient = await activatePatient(gateway.url, practice);
      const second = await signIn(gateway.url, { practice: practice.odsCode, login: patient.nhsNumber });
      const third = await signIn(gateway.url, { practice: practice.odsCode, login: patient.nhsNumber });
      const [one, two, three] = [await connect(patient), await connect(second), await connect(third)];
      const reasons = [sessionEnded(one), sessionEnded(two), sessionEnded(three)];

      await api(gateway.url, 'POST', '/api/auth/sign-out', { token: patient.token });
      expect(await reasons[0]).toBe('signed_out');
      expect((await two.request('system:ping', {})).ok).toBe(true);
      await api(gateway.url, 'POST', '/api/auth/sign-out-everywhere', { token: second.token });

      expect(await Promise.all(reasons)).toEqual(['signed_out', 'signed_out', 'signed_out']);
      await Promise.all([stopped(two), stopped(three)]);
      expect([one.isConnected, two.isConnected, three.isConnected]).toEqual([false, false, false]);
    });

    it('tells and closes the socket of a session ended in the database alone (its notification), and answers no command once the node heard it', async () => {
      const patient = await activatePatient(gateway.url, practice);
      const client = await connect(patient);
      const reason = sessionEnded(client);
      const heard = heardOn(gateway, 'session', await sessionIdOf(gateway, patient.token));
      await gateway.dataSource.query(`UPDATE sessions SET revoked_at = now(), end_reason = 'revoked' WHERE user_id = $1`, [patient.userId]);

      // Until the node reads the notification, its cache (filled by the handshake) may still answer a command: the window
      // of docs/decisions/0006-cache-invalidation-listen-notify.md. From then on, none is answered.
      await heard;
      const after = await client.request('system:ping', {});

      expect(after.ok ? 'answered' : after.error.code).toMatch(/^(unauthorized|disconnected)$/);
      expect(await reason).toBe('revoked');
      expect((await stopped(client)).code).toBe('session_ended');
    });

    it('closes a socket whose expiry check found the session still live (the timer fired early by the database clock), once it has expired', async () => {
      const patient = await activatePatient(gateway.url, practice);
      await expireSession(patient.token, '1 second');
      const client = await connect(patient);
      const reason = sessionEnded(client);
      // The handshake armed its timer for 1 s; the database now says 2.5 s, so that first check finds the session live.
      await expireSession(patient.token, '2.5 seconds');

      expect(await reason).toBe('expired');
      expect((await stopped(client)).code).toBe('session_ended');
    });

    it('closes a socket when its session expires', async () => {
      const patient = await activatePatient(gateway.url, practice);
      await expireSession(patient.token, '1 second');
      const client = await connect(patient);
      const reason = sessionEnded(client);

      expect(await reason).toBe('expired');
      expect((await stopped(client)).code).toBe('session_ended');
    });
  });
});
