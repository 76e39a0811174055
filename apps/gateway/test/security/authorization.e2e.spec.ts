import { randomUUID } from 'node:crypto';
import { ParleyClient } from '@parley/client';
import { ready } from '@parley/crypto';
import { COMMAND_NAMES, type ErrorCode } from '@parley/protocol';
import { startTestApp, type TestApp } from '../app.js';
import { api } from '../factories.js';
import { COMMAND_POLICIES, DENIAL_CODES, relationsFor, ROUTE_POLICIES, rowsOf, type Policy, type Row } from './authorization-matrix.js';
import { CALLABLE_ROUTES, commandPayload, conversationFor, discoverRoutes, routeCall } from './endpoints.js';
import { buildWorld, conversationState, LIVE_ROLES, ROLES, type LiveRole, type MatrixRole, type World } from './world.js';

/** Commands that change the world's conversations for good run last, in this order. */
const RUN_LAST = ['conversation:claim', 'conversation:transfer', 'conversation:close'];
/** Routes that end the caller's sessions run last. */
const ROUTES_LAST = ['POST /api/auth/sign-out-everywhere'];

const denialsOf = (policy: Policy): readonly ErrorCode[] => [...DENIAL_CODES, ...(policy.alsoDeniedAs ?? [])];
const STATUS_OF_CODE: Partial<Record<ErrorCode, number>> = {
  invalid_payload: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  at_capacity: 409,
  outside_hours: 409,
  rate_limited: 429,
};
/** Deny rows first, so that an allowed cell cannot change what a denied one is tried on. */
const denialsFirst = (rows: Row[]): Row[] => [...rows.filter((row) => row.expected === 'deny'), ...rows.filter((row) => row.expected !== 'deny')];
const byRunOrder = (last: string[]) => (a: string, b: string) => last.indexOf(a) - last.indexOf(b);

describe('the authorisation matrix', () => {
  let gateway: TestApp;
  let world: World;

  beforeAll(async () => {
    await ready();
    // The matrix signs in with wrong keys on purpose: lift the guessing limits so they do not decide any cell.
    gateway = await startTestApp({
      SIGN_IN_MAX_FAILURES_PER_ACCOUNT: '1000',
      SIGN_IN_MAX_FAILURES_PER_IP: '100000',
      BACKUP_DOWNLOADS_PER_HOUR: '1000',
      // The text-message channel is on (so a patient's contact is accepted), pointed at a closed loopback port.
      NOTIFY_API_KEY: `matrix-${randomUUID()}-${randomUUID()}`,
      NOTIFY_SMS_TEMPLATE_ID: randomUUID(),
      NOTIFY_BASE_URL: 'http://127.0.0.1:9',
    });
    world = await buildWorld(gateway);
    // Published after the conversations were opened (a patient must accept terms before opening one).
    await api(gateway.url, 'POST', '/api/practice/terms', { token: world.practice.manager.token, body: { text: 'Terms of use.' } });
  }, 180_000);

  afterAll(async () => {
    world?.close();
    await gateway?.close();
  });

  describe('covers everything (a new command or route without a policy fails here)', () => {
    it('has a policy and a request for every socket command, and none for a command that does not exist', () => {
      const commands = [...COMMAND_NAMES].sort();

      expect(Object.keys(COMMAND_POLICIES).sort()).toEqual(commands);
      for (const command of commands) expect(() => commandPayload(world, command, 'patient', 'own')).not.toThrow();
    });

    it('has a policy and a request for every HTTP route the running app serves, and none for a route it does not serve', () => {
      const served = discoverRoutes(gateway.app);

      expect(served.length).toBeGreaterThan(20);
      expect(Object.keys(ROUTE_POLICIES).sort()).toEqual(served);
      expect([...CALLABLE_ROUTES].sort()).toEqual(served);
    });

    it('allows only cells the matrix walks (no allowed cell for a role or relation that is never tried)', () => {
      const stray = Object.entries({ ...COMMAND_POLICIES, ...ROUTE_POLICIES }).flatMap(([endpoint, policy]) =>
        Object.entries(policy.allow).flatMap(([role, cells]) =>
          Object.keys(cells ?? {}).flatMap((relation) =>
            relationsFor(policy.scope, role as MatrixRole).includes(relation as never) ? [] : [`${endpoint} ${role} ${relation}`],
          ),
        ),
      );

      expect(stray).toEqual([]);
    });
  });

  it('answers every socket command as the matrix says, for every role and relation, and a refusal changes nothing', async () => {
    const clients = new Map<LiveRole, ParleyClient>();
    for (const role of LIVE_ROLES) clients.set(role, await ParleyClient.connect({ url: world.url, token: world.tokens[role]!, requestTimeoutMs: 10_000 }));
    const handshake = new Map<MatrixRole, string>();
    for (const role of ROLES.filter((role) => !(LIVE_ROLES as readonly string[]).includes(role))) {
      const refusal = await ParleyClient.connect({ url: world.url, token: world.tokens[role] ?? '', requestTimeoutMs: 5_000 }).then(
        (client) => {
          client.close();
          return 'connected';
        },
        (error: { code?: string }) => error.code ?? 'error',
      );
      handshake.set(role, refusal);
    }
    const mismatches: string[] = [];
    let cells = 0;

    const commands = Object.keys(COMMAND_POLICIES).sort(byRunOrder(RUN_LAST));
    for (const command of commands) {
      const policy = COMMAND_POLICIES[command]!;
      for (const row of denialsFirst(rowsOf('command', command, policy))) {
        cells += 1;
        const client = clients.get(row.role as LiveRole);
        if (!client) {
          // No live session: the handshake must refuse the socket, so no command is ever heard.
          if (handshake.get(row.role) !== 'unauthorized') mismatches.push(`${command} as ${row.role}: handshake answered ${handshake.get(row.role)}`);
          continue;
        }
        const target = policy.scope === 'conversation' ? conversationFor(world, row.role, row.relation) : undefined;
        const before = target ? await conversationState(world.dataSource, target) : undefined;
        const answer = (await client.requestRaw(command, commandPayload(world, command, row.role, row.relation))) as {
          ok: boolean;
          error?: { code: ErrorCode };
        };
        const got = answer.ok ? 'ok' : answer.error!.code;
        if (row.expected === 'deny') {
          if (!denialsOf(policy).includes(got as ErrorCode)) mismatches.push(`${command} as ${row.role} (${row.relation}): expected a denial, got ${got}`);
          if (target && JSON.stringify(await conversationState(world.dataSource, target)) !== JSON.stringify(before)) {
            mismatches.push(`${command} as ${row.role} (${row.relation}): refused, but the conversation changed`);
          }
        } else if (got !== row.expected) {
          mismatches.push(`${command} as ${row.role} (${row.relation}): expected ${row.expected}, got ${got}`);
        }
      }
    }
    for (const client of clients.values()) client.close();

    expect(mismatches).toEqual([]);
    expect(cells).toBeGreaterThan(100);
  }, 180_000);

  it('answers every HTTP route as the matrix says, for every role and relation; a token changes nothing on a public route', async () => {
    const mismatches: string[] = [];
    const routes = Object.keys(ROUTE_POLICIES).sort(byRunOrder(ROUTES_LAST));

    for (const route of routes) {
      const policy = ROUTE_POLICIES[route]!;
      for (const row of denialsFirst(rowsOf('route', route, policy))) {
        const call = await routeCall(world, route, row.role, row.relation);
        const token = call.token ?? world.tokens[row.role];
        const response = await api<{ error?: { code: ErrorCode } }>(world.url, call.method as 'GET', call.path, {
          token,
          body: call.body,
          rawBody: call.rawBody,
          headers: call.headers,
        });
        const got = response.status < 300 ? 'ok' : (response.body?.error?.code ?? `status ${response.status}`);
        if (policy.isPublic) {
          const anonymous = await api(world.url, call.method as 'GET', call.path, { body: call.body });
          if (response.status === 403 || response.status !== anonymous.status)
            mismatches.push(`${route} as ${row.role}: public, but answered ${response.status} (anonymous: ${anonymous.status})`);
          continue;
        }
        if (row.expected === 'deny') {
          if (!denialsOf(policy).includes(got as ErrorCode)) mismatches.push(`${route} as ${row.role} (${row.relation}): expected a denial, got ${got}`);
        } else if (got !== row.expected || (row.expected !== 'ok' && response.status !== STATUS_OF_CODE[row.expected])) {
          mismatches.push(`${route} as ${row.role} (${row.relation}): expected ${row.expected}, got ${got} (${response.status})`);
        }
      }
    }

    expect(mismatches).toEqual([]);
  }, 180_000);
});
