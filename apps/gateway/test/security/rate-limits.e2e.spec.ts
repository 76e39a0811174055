import { ParleyClient } from '@parley/client';
import { ready } from '@parley/crypto';
import { startTestApp, type TestApp } from '../app.js';
import { activatePatient, connectAs, createPracticeWithStaff, type TestPatient, type TestPractice } from '../factories.js';

// Sign-in delays per account, limits per code and per address are proven in e2e/auth.e2e.spec.ts; an invitation's total of
// wrong dates of birth in e2e/invitation-guessing.e2e.spec.ts.

const codeOf = (answer: { ok: boolean; error?: { code: string } }) => (answer.ok ? 'ok' : answer.error!.code);

describe('socket flood limits', () => {
  let gateway: TestApp;
  let practice: TestPractice;
  let patient: TestPatient;
  const clients: ParleyClient[] = [];

  beforeAll(async () => {
    await ready();
    gateway = await startTestApp({
      SOCKET_EVENTS_PER_SECOND: '2',
      SOCKET_EVENT_BURST: '10',
      USER_EVENTS_PER_SECOND: '2',
      USER_EVENT_BURST: '16',
      SOCKET_CONNECTIONS_PER_IP_PER_MINUTE: '1000',
    });
    practice = await createPracticeWithStaff(gateway);
    patient = await activatePatient(gateway.url, practice);
  }, 60_000);

  afterAll(async () => {
    for (const client of clients) client.close();
    await gateway?.close();
  });

  const connect = async (who: { token: string }) => {
    const client = await connectAs(gateway.url, who, 10_000);
    clients.push(client);
    return client;
  };

  it('answers a flooding socket rate_limited past its burst, limits its user across sockets, and leaves other users alone', async () => {
    const first = await connect(patient);
    const second = await connect(patient);
    const clinician = await connect(practice.clinician);

    const flood = await Promise.all(Array.from({ length: 14 }, () => first.request('system:ping', {})));
    const sameUser = await Promise.all(Array.from({ length: 10 }, () => second.request('system:ping', {})));
    const otherUser = await Promise.all(Array.from({ length: 8 }, () => clinician.request('system:ping', {})));

    // The first socket gets its burst of 10 (give or take a refill); the user's budget of 16 leaves the second socket about 6.
    expect(flood.filter((answer) => answer.ok).length).toBeGreaterThanOrEqual(10);
    expect(flood.filter((answer) => answer.ok).length).toBeLessThanOrEqual(11);
    expect(flood.filter((answer) => !answer.ok).map(codeOf)).toEqual(expect.arrayContaining(['rate_limited']));
    expect(sameUser.filter((answer) => answer.ok).length).toBeLessThan(10);
    expect(sameUser.map(codeOf)).toContain('rate_limited');
    expect(otherUser.map(codeOf)).toEqual(Array(8).fill('ok'));
  });

  it('lets a limited socket work again once it slows down', async () => {
    const client = await connect(practice.manager);
    await Promise.all(Array.from({ length: 14 }, () => client.request('system:ping', {})));

    await new Promise((resolve) => setTimeout(resolve, 1_600));

    expect(codeOf(await client.request('system:ping', {}))).toBe('ok');
  });
});

describe('connection storms from one address', () => {
  let gateway: TestApp;
  let practice: TestPractice;

  beforeAll(async () => {
    await ready();
    gateway = await startTestApp({ SOCKET_CONNECTIONS_PER_IP_PER_MINUTE: '5' });
    practice = await createPracticeWithStaff(gateway);
  }, 60_000);

  afterAll(async () => {
    await gateway?.close();
  });

  it('refuses the handshake as rate_limited past the limit, before looking at the token', async () => {
    const outcomes: string[] = [];
    for (let i = 0; i < 7; i += 1) {
      const token = i % 2 === 0 ? practice.clinician.token : 'not-a-token';
      outcomes.push(
        await ParleyClient.connect({ url: gateway.url, token, requestTimeoutMs: 5_000 }).then(
          (client) => {
            client.close();
            return 'connected';
          },
          (error: { code?: string; message?: string }) => (/rate_limited/.test(error.message ?? '') ? 'rate_limited' : (error.code ?? 'error')),
        ),
      );
    }

    expect(outcomes.slice(0, 5)).toEqual(['connected', 'unauthorized', 'connected', 'unauthorized', 'connected']);
    expect(outcomes.slice(5)).toEqual(['rate_limited', 'rate_limited']);
    expect((await fetch(`${gateway.url}/health/live`)).status).toBe(200);
  });
});
