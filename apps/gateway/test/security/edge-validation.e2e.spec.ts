import type { HoursView } from '@parley/protocol';
import { io, type Socket } from 'socket.io-client';
import { startTestApp, type TestApp } from '../app.js';
import { activatePatient, api, apiOk, createPracticeWithStaff, type TestPatient, type TestPractice } from '../factories.js';
import { waitUntil } from '../wait.js';

type Caller = 'patient' | 'clinician' | 'manager';
type ErrorAnswer = { error: { code: string; message: string } };

/** The names socket.io's parser will not carry (socket.io-parser RESERVED_EVENTS); the official client refuses to send them. */
const RESERVED = ['connect', 'connect_error', 'disconnect', 'disconnecting', 'newListener', 'removeListener'];
/** Names that mean something to socket.io or to an EventEmitter, but that a client may send: they are unknown events like any other. */
const SPECIAL_BUT_SENDABLE = ['error', 'connection', 'message', 'ping', 'constructor', 'hasOwnProperty'];
/** What validation would say about each "any of" schema: none of it may reach a caller who may not use the route. */
const SCHEMA_WORDS = /timeZone|cutoffMinutes|practicePhone|acknowledgementTemplate|nhsNumber|dateOfBirth|setting|nothing to change|give an NHS/;

/** The "any of" routes (at least one of several optional fields), with who may use each and an empty and a malformed request. */
const ANY_OF = [
  { route: 'PUT /api/hours/settings', mayUse: ['manager'], empty: { body: {} }, malformed: { body: { timeZone: 'Mars/Olympus' } } },
  { route: 'PUT /api/practice/texts', mayUse: ['manager'], empty: { body: {} }, malformed: { body: { practicePhone: 5 } } },
  { route: 'GET /api/patients', mayUse: ['clinician', 'manager'], empty: { query: '' }, malformed: { query: '?nhsNumber=12' } },
] as const;

describe('The gateway edge', () => {
  let gateway: TestApp;
  let practice: TestPractice;
  let patient: TestPatient;
  const open: Socket[] = [];

  const tokenOf = (caller: Caller): string => (caller === 'patient' ? patient.token : practice[caller].token);

  const send = (route: (typeof ANY_OF)[number]['route'], caller: Caller, request: { body?: unknown; query?: string }) => {
    const [method, path] = route.split(' ') as ['GET' | 'PUT', string];
    return api<ErrorAnswer>(gateway.url, method, `${path}${request.query ?? ''}`, { token: tokenOf(caller), body: request.body });
  };

  /**
   * A socket as any client of the protocol opens one: the official client, the websocket transport, a session token.
   * A patient's: a clinician's connecting and leaving start routing passes that would still be querying when the app closes.
   */
  async function connected(): Promise<Socket> {
    const socket = io(gateway.url, { auth: { token: patient.token }, transports: ['websocket'], reconnection: false });
    open.push(socket);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('connect_error', reject);
    });
    return socket;
  }

  const ping = (socket: Socket) => socket.timeout(5_000).emitWithAck('system:ping', {});

  beforeAll(async () => {
    gateway = await startTestApp();
    practice = await createPracticeWithStaff(gateway);
    patient = await activatePatient(gateway.url, practice);
  });

  afterEach(() => {
    for (const socket of open.splice(0)) socket.close();
  });

  afterAll(async () => {
    await gateway.close();
  });

  describe('"any of" bodies and queries', () => {
    const allowed = ANY_OF.flatMap(({ route, mayUse, empty }) => mayUse.map((caller) => [route, caller, empty] as const));
    const refused = ANY_OF.flatMap(({ route, mayUse, empty, malformed }) =>
      (['patient', 'clinician', 'manager'] as const)
        .filter((caller) => !(mayUse as readonly Caller[]).includes(caller))
        .map((caller) => [route, caller, empty, malformed] as const),
    );

    it.each(allowed)('%s refuses an empty request from a %s as invalid_payload', async (route, caller, empty) => {
      const answer = await send(route, caller, empty);

      expect(answer.status).toBe(400);
      expect(answer.body.error.code).toBe('invalid_payload');
    });

    it.each(refused)(
      '%s answers a %s forbidden before reading the request, empty or malformed, and says nothing of its schema',
      async (route, caller, empty, malformed) => {
        const before = await apiOk<HoursView>(gateway.url, 'GET', '/api/hours', { token: practice.manager.token });

        const answers = [await send(route, caller, empty), await send(route, caller, malformed)];

        expect(answers.map(({ status, body }) => [status, body.error.code])).toEqual([
          [403, 'forbidden'],
          [403, 'forbidden'],
        ]);
        for (const { body } of answers) expect(body.error.message).not.toMatch(SCHEMA_WORDS);
        expect((await apiOk<HoursView>(gateway.url, 'GET', '/api/hours', { token: practice.manager.token })).settings).toEqual(before.settings);
      },
    );

    it('still answers a manager invalid_payload, naming the rule, for a malformed body', async () => {
      const answer = await send('PUT /api/hours/settings', 'manager', { body: { timeZone: 'Mars/Olympus' } });

      expect(answer.status).toBe(400);
      expect(answer.body.error).toMatchObject({ code: 'invalid_payload', message: expect.stringContaining('timeZone') });
    });
  });

  describe('event names socket.io reserves', () => {
    it.each(RESERVED)('the official client refuses to send %s', async (name) => {
      const socket = await connected();

      expect(() => socket.emit(name, {})).toThrow(`"${name}" is a reserved event name`);
      expect(await ping(socket)).toMatchObject({ ok: true });
    });

    it.each(RESERVED)('a packet naming %s anyway closes only that connection, and the node goes on answering', async (name) => {
      const bystander = await connected();
      const sender = await connected();
      let reason: string | undefined;
      sender.once('disconnect', (why) => (reason = why));

      // What a client that skips the official client's check would put on the wire: an event with ack id 0.
      sender.io.engine.write(`420${JSON.stringify([name, {}])}`);
      await waitUntil(() => reason !== undefined, `the socket that sent ${name} to be closed`);

      expect(reason).toBe('transport close');
      expect(await ping(bystander)).toMatchObject({ ok: true });
      expect(await ping(await connected())).toMatchObject({ ok: true });
    });

    it.each(SPECIAL_BUT_SENDABLE)('answers %s "Unknown event." like any other unknown name, and keeps the socket', async (name) => {
      const socket = await connected();

      const answer: unknown = await socket.timeout(5_000).emitWithAck(name, {});

      expect(answer).toEqual({ ok: false, error: { code: 'invalid_payload', message: 'Unknown event.' } });
      expect(socket.connected).toBe(true);
      expect(await ping(socket)).toMatchObject({ ok: true });
    });
  });
});
