import { ParleyClient } from '@parley/client';
import { ready } from '@parley/crypto';
import { COMMAND_NAMES, ERROR_CODES, MAX_CIPHERTEXT_BYTES } from '@parley/protocol';
import { io, type Socket } from 'socket.io-client';
import { startTestApp, type TestApp } from '../app.js';
import { api, invitePatient, patientActivation, staffCertificateBody } from '../factories.js';
import { commandPayload, invitationBody } from './endpoints.js';
import { buildWorld, type World } from './world.js';

/**
 * Fields that may be left out (the schema has a default, or they go with one outcome only); without them
 * a request is refused by a rule (e.g. a patient's activation without a date of birth is `unauthorized`).
 */
const OPTIONAL_FIELDS = new Set(['limit', 'followUp', 'dateOfBirth', 'certifiedAs', 'account']);
/** Binary fields, sent as base64; all are fixed-size except the ciphertext (17 bytes and up). */
const BASE64_FIELDS = new Set([
  'ciphertext',
  'nonce',
  'sealedKey',
  'signature',
  'recipientKeyId',
  'certificate',
  'lookupId',
  'invitationSignPublicKey',
  'invitationSignature',
  'rootSignature',
  'authKey',
]);
/** Signs of an internal error leaking to a client: a stack frame, a source path, an exception's name. */
const LEAK = /\bat [\w.<>]+ \(|\.ts:\d+|\/src\/|node_modules|TypeError|ReferenceError|QueryFailedError|SyntaxError/;

type Answer = { ok: true; data: unknown } | { ok: false; error: { code: string; message: string } };

const deeplyNested = (depth: number): unknown => {
  let value: unknown = 'bottom';
  for (let i = 0; i < depth; i += 1) value = { a: value };
  return value;
};

/** Each hostile variant of a valid payload, named; all of them must be refused as `invalid_payload`. */
function hostileVariants(valid: Record<string, unknown>): [string, unknown][] {
  const variants: [string, unknown][] = [
    ['a number instead of an object', 42],
    ['a string instead of an object', 'hello'],
    ['null', null],
    ['an array', [valid]],
    ['an extra field', { ...valid, isAdmin: true }],
    // JSON.parse makes "__proto__" an own key, as socket.io's parser does with what arrives on the wire.
    ['a __proto__ key', JSON.parse(JSON.stringify({ ...valid, ['__proto__' as string]: null }).replace('"__proto__":null', '"__proto__":{"isAdmin":true}'))],
    ['a constructor.prototype key', { ...valid, constructor: { prototype: { isAdmin: true } } }],
    ['deep nesting (500 levels)', { ...valid, nested: deeplyNested(500) }],
  ];
  for (const [key, value] of Object.entries(valid)) {
    const without = { ...valid };
    delete without[key];
    if (!OPTIONAL_FIELDS.has(key)) variants.push([`no ${key}`, without]);
    if (typeof value === 'string') {
      variants.push([`${key} as a number`, { ...valid, [key]: 12345 }]);
      variants.push([`${key} as an object`, { ...valid, [key]: { toString: 'x' } }]);
      // zod's own length checks throw on this (it cannot be turned into a number): still invalid_payload, not internal.
      variants.push([`${key} with an unreadable length`, { ...valid, [key]: { length: { toString: 1, valueOf: 1 } } }]);
      variants.push([`${key} 100,000 characters long`, { ...valid, [key]: 'A'.repeat(100_000) }]);
    }
    if (typeof value === 'number') {
      variants.push([`${key} as a string`, { ...valid, [key]: String(value) }]);
      variants.push([`${key} negative`, { ...valid, [key]: -1 }]);
      variants.push([`${key} huge`, { ...valid, [key]: 1e308 }]);
      variants.push([`${key} fractional`, { ...valid, [key]: 1.5 }]);
      variants.push([`${key} beyond 2^53`, { ...valid, [key]: 2 ** 60 }]);
    }
    if (typeof value === 'boolean') variants.push([`${key} as a string`, { ...valid, [key]: 'true' }]);
    if (BASE64_FIELDS.has(key) && typeof value === 'string') {
      const bytes = Buffer.from(value, 'base64').length;
      variants.push([`${key} not base64`, { ...valid, [key]: '!!!!' + value.slice(4) }]);
      // Fixed-size fields one byte short; the ciphertext (variable) below its minimum.
      const shortBy = key === 'ciphertext' ? bytes - 16 : 1;
      variants.push([`${key} too short`, { ...valid, [key]: Buffer.alloc(Math.max(bytes - shortBy, 0), 1).toString('base64') }]);
      variants.push([`${key} unpadded`, { ...valid, [key]: value.replace(/=+$/, '') + (value.endsWith('=') ? '' : 'A') }]);
    }
  }
  return variants;
}

describe('hostile input on every socket command', () => {
  let gateway: TestApp;
  let world: World;
  let client: ParleyClient;

  beforeAll(async () => {
    await ready();
    gateway = await startTestApp({ SOCKET_EVENTS_PER_SECOND: '100000', SOCKET_EVENT_BURST: '100000' });
    world = await buildWorld(gateway);
    client = await ParleyClient.connect({ url: world.url, token: world.practice.clinician.token, requestTimeoutMs: 10_000 });
  }, 180_000);

  afterAll(async () => {
    client?.close();
    world?.close();
    await gateway?.close();
  });

  it.each([...COMMAND_NAMES])('refuses every malformed %s as invalid_payload, without a stack trace, and keeps answering', async (command) => {
    const valid = commandPayload(world, command, 'clinician', 'assigned-to-me') as Record<string, unknown>;
    const wrong: string[] = [];

    for (const [name, payload] of hostileVariants(valid)) {
      const answer = (await client.requestRaw(command, payload)) as Answer;
      if (answer.ok || answer.error.code !== 'invalid_payload') wrong.push(`${name}: ${JSON.stringify(answer).slice(0, 200)}`);
      else if (LEAK.test(answer.error.message)) wrong.push(`${name}: leaks ${answer.error.message.slice(0, 200)}`);
    }

    expect(wrong).toEqual([]);
    expect(await client.request('system:ping', {})).toMatchObject({ ok: true });
  });

  it('answers an unknown event as invalid_payload, and one without an ack callback with silence, and keeps answering', async () => {
    const unknown = (await client.requestRaw('admin:drop-tables', {})) as Answer;
    const prototype = (await client.requestRaw('__proto__', {})) as Answer;
    const raw = await rawSocket(world);
    for (const command of COMMAND_NAMES) raw.emit(command, { conversationId: 'not-a-uuid' });
    raw.emit('conversation:send');
    raw.emit('unknown:event', 1, 2, 3);

    expect(unknown).toEqual({ ok: false, error: { code: 'invalid_payload', message: 'Unknown event.' } });
    expect(prototype).toMatchObject({ ok: false, error: { code: 'invalid_payload' } });
    expect(await raw.timeout(10_000).emitWithAck('system:ping', {})).toMatchObject({ ok: true });
    raw.close();
  });

  it('takes a ciphertext at its size limit, and closes the socket of a frame over the limit, and the node keeps answering', async () => {
    const atLimit = {
      ...(commandPayload(world, 'conversation:send', 'clinician', 'assigned-to-me') as object),
      ciphertext: Buffer.alloc(MAX_CIPHERTEXT_BYTES, 7).toString('base64'),
    };
    const overLimit = { ...atLimit, ciphertext: Buffer.alloc(MAX_CIPHERTEXT_BYTES + 1, 7).toString('base64') };
    const tenTimes = { ...atLimit, ciphertext: Buffer.alloc(MAX_CIPHERTEXT_BYTES * 10, 7).toString('base64') };
    const raw = await rawSocket(world);
    const disconnected = new Promise<string>((resolve) => raw.once('disconnect', resolve));

    expect(await client.requestRaw('conversation:send', atLimit)).toMatchObject({ ok: true });
    expect(await client.requestRaw('conversation:send', overLimit)).toMatchObject({ ok: false, error: { code: 'invalid_payload' } });
    raw.emit('conversation:send', tenTimes, () => undefined);
    expect(await disconnected).toBe('transport close');
    expect(await client.request('system:ping', {})).toMatchObject({ ok: true });
  });

  it('refuses every malformed body of the invitation-bound trust routes as invalid_payload, without a stack trace', async () => {
    const { practice } = world;
    const activation = (await patientActivation(practice.odsCode, await invitePatient(world.url, practice.clinician, practice))).body;
    const routes: [string, 'POST' | 'PUT', string, Record<string, unknown>, string | undefined][] = [
      ['invitation', 'POST', '/api/invitations', invitationBody(), practice.clinician.token],
      [
        'invitation lookup',
        'POST',
        '/api/auth/invitation',
        { practice: practice.odsCode, lookupId: activation.lookupId!, dateOfBirth: activation.dateOfBirth! },
        undefined,
      ],
      ['activation', 'POST', '/api/auth/activate', { ...activation, lookupId: Buffer.alloc(32, 9).toString('base64') }, undefined],
      [
        'staff certificate',
        'PUT',
        `/api/devices/${practice.clinician.deviceId}/certificate`,
        staffCertificateBody(practice.odsCode, practice.root, practice.clinician),
        practice.manager.token,
      ],
      [
        'record key',
        'POST',
        '/api/practice/record-keys',
        {
          version: 1,
          boxPublicKey: Buffer.alloc(32, 1).toString('base64'),
          validFrom: 1,
          certificate: Buffer.alloc(64, 1).toString('base64'),
          current: { issuedAt: 1, signature: Buffer.alloc(64, 1).toString('base64') },
        },
        practice.manager.token,
      ],
    ];
    const wrong: string[] = [];

    for (const [name, method, path, valid, token] of routes) {
      // The valid body passes validation (any refusal of it comes from a rule, not the schema).
      const control = await api<{ error?: { code: string } }>(world.url, method, path, { token, body: valid });
      if (control.body?.error?.code === 'invalid_payload') wrong.push(`${name}: the valid body was refused ${JSON.stringify(control.body)}`);
      for (const [variant, body] of hostileVariants(valid)) {
        const response = await api<{ error?: { code: string; message: string } }>(world.url, method, path, { token, body });
        if (response.status !== 400 || response.body?.error?.code !== 'invalid_payload')
          wrong.push(`${name}, ${variant}: ${response.status} ${JSON.stringify(response.body).slice(0, 200)}`);
        else if (LEAK.test(JSON.stringify(response.body))) wrong.push(`${name}, ${variant}: leaks ${JSON.stringify(response.body).slice(0, 200)}`);
      }
    }

    expect(wrong).toEqual([]);
  });

  it('refuses malformed HTTP bodies with a typed error and no stack trace', async () => {
    const bodies: [string, string][] = [
      ['not JSON', '{"practice": '],
      ['a __proto__ key', '{"__proto__": {"isAdmin": true}, "practice": "A12345", "login": "0123456789"}'],
      ['deep nesting', '['.repeat(5_000) + ']'.repeat(5_000)],
      ['over the size limit', JSON.stringify({ practice: 'A12345', login: 'x'.repeat(100_000) })],
      ['a number', '42'],
    ];
    const wrong: string[] = [];

    for (const [name, rawBody] of bodies) {
      const response = await api<{ error?: { code: string; message: string } }>(world.url, 'POST', '/api/auth/prelogin', { rawBody });
      const code = response.body?.error?.code;
      if (response.status !== 400 || code !== 'invalid_payload') wrong.push(`${name}: ${response.status} ${JSON.stringify(response.body).slice(0, 200)}`);
      if (LEAK.test(JSON.stringify(response.body))) wrong.push(`${name}: leaks ${JSON.stringify(response.body).slice(0, 200)}`);
    }

    expect(wrong).toEqual([]);
    expect(ERROR_CODES).toContain('invalid_payload');
    expect((await api(world.url, 'GET', '/health/live')).status).toBe(200);
  });
});

/** A bare socket.io client (no ParleyClient checks in the way), authenticated as the practice's clinician. */
async function rawSocket(world: World): Promise<Socket> {
  const socket = io(world.url, { auth: { token: world.practice.clinician.token }, transports: ['websocket'], reconnection: false });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('connect_error', reject);
  });
  return socket;
}
