import { randomUUID } from 'node:crypto';
import { generatePracticeRootKey, ready, signRevocationList, toBase64, type RevocationListFields, type SigningKeys } from '@parley/crypto';
import type { RevocationListResponse } from '@parley/protocol';
import { addPracticeAdminKey } from '@parley/sdk';
import { startTestApp, type TestApp } from '../app.js';
import { activatePatient, api, apiOk, createPracticeWithStaff, type TestPatient, type TestPractice } from '../factories.js';

describe('the practice revocation list over HTTP (in-process gateway, real PostgreSQL)', () => {
  let gateway: TestApp;
  let practice: TestPractice;
  let otherPractice: TestPractice;
  let patient: TestPatient;
  let otherPatient: TestPatient;

  /** The list as a manager's client signs and sends it. */
  function aListBody(fields: Partial<Omit<RevocationListFields, 'practiceId'>> & { practiceId?: string }, signer: SigningKeys = practice.root) {
    const list: RevocationListFields = {
      practiceId: practice.odsCode,
      version: 1,
      issuedAt: Date.now(),
      entries: [{ deviceId: patient.deviceId, revokedAt: Date.now() }],
      ...fields,
    };
    return {
      version: list.version,
      issuedAt: list.issuedAt,
      entries: list.entries,
      signerSignPublicKey: toBase64(signer.signPublicKey),
      signature: toBase64(signRevocationList(list, signer.signSecretKey)),
    };
  }

  const storedLists = async (practiceId = practice.id) =>
    gateway.dataSource.query<{ version: number }[]>(`SELECT version FROM revocation_lists WHERE practice_id = $1 ORDER BY version`, [practiceId]);

  beforeAll(async () => {
    await ready();
    gateway = await startTestApp();
    practice = await createPracticeWithStaff(gateway, { name: 'Riverside Surgery' });
    otherPractice = await createPracticeWithStaff(gateway, { name: 'Hillside Surgery' });
    patient = await activatePatient(gateway.url, practice);
    otherPatient = await activatePatient(gateway.url, otherPractice);
  });

  afterAll(() => gateway.close());

  it('answers no list before a manager stores the first one', async () => {
    const answer = await apiOk<RevocationListResponse>(gateway.url, 'GET', '/api/practice/revocations', { token: patient.token });

    expect(answer).toEqual({ list: null });
  });

  it("stores a root-signed list from a manager and gives the newest to every member, patients too, with the practice's code", async () => {
    const first = aListBody({ version: 1, entries: [{ deviceId: practice.clinician.deviceId, revokedAt: 1_000 }] });
    const second = aListBody({
      version: 5,
      entries: [
        { deviceId: practice.clinician.deviceId, revokedAt: 1_000 },
        { deviceId: patient.deviceId, revokedAt: 2_000 },
      ],
    });

    await apiOk(gateway.url, 'PUT', '/api/practice/revocations', { token: practice.manager.token, body: first });
    await apiOk(gateway.url, 'PUT', '/api/practice/revocations', { token: practice.manager.token, body: second });

    for (const member of [patient, practice.clinician, practice.manager]) {
      const answer = await apiOk<RevocationListResponse>(gateway.url, 'GET', '/api/practice/revocations', { token: member.token });
      expect(answer.list).toEqual({ ...second, practiceOdsCode: practice.odsCode });
    }
    const audit = await gateway.dataSource.query<{ action: string; data: unknown }[]>(
      `SELECT action, data FROM audit_events WHERE practice_id = $1 AND action = 'revocations.published' ORDER BY id`,
      [practice.id],
    );
    expect(audit.map((event) => event.data)).toEqual([
      { version: 1, devices: 1 },
      { version: 5, devices: 2 },
    ]);
    const other = await apiOk<RevocationListResponse>(gateway.url, 'GET', '/api/practice/revocations', { token: otherPatient.token });
    expect(other).toEqual({ list: null });
  });

  it.each([
    ['the same version', 5],
    ['a lower version (a rollback)', 2],
  ])('refuses %s as conflict and keeps what was stored', async (_what, version) => {
    const before = await storedLists();

    const response = await api<{ error: { code: string } }>(gateway.url, 'PUT', '/api/practice/revocations', {
      token: practice.manager.token,
      body: aListBody({ version, entries: [] }),
    });

    expect(response.status).toBe(409);
    expect(response.body.error.code).toBe('conflict');
    expect(await storedLists()).toEqual(before);
  });

  it.each<[string, () => unknown]>([
    ['a list signed by a key that is not the root', () => aListBody({ version: 10 }, generatePracticeRootKey())],
    ["a list signed by another practice's root", () => aListBody({ version: 10 }, otherPractice.root)],
    ['a list signed for another practice', () => aListBody({ version: 10, practiceId: otherPractice.odsCode })],
    [
      'the root named as signer over a signature by another key',
      () => ({ ...aListBody({ version: 10 }, generatePracticeRootKey()), signerSignPublicKey: toBase64(practice.root.signPublicKey) }),
    ],
    ['entries changed after signing (a device dropped)', () => ({ ...aListBody({ version: 10 }), entries: [] })],
    ['a version changed after signing', () => ({ ...aListBody({ version: 10 }), version: 11 })],
    ['a device of another practice', () => aListBody({ version: 10, entries: [{ deviceId: otherPatient.deviceId, revokedAt: 1 }] })],
    ['an unknown device', () => aListBody({ version: 10, entries: [{ deviceId: randomUUID(), revokedAt: 1 }] })],
    [
      'a device named twice',
      () => ({
        ...aListBody({ version: 10 }),
        entries: [
          { deviceId: patient.deviceId, revokedAt: 1 },
          { deviceId: patient.deviceId, revokedAt: 1 },
        ],
      }),
    ],
    ['a device id that is not a UUID', () => ({ ...aListBody({ version: 10 }), entries: [{ deviceId: 'lost-phone', revokedAt: 1 }] })],
    ['a negative revocation time', () => ({ ...aListBody({ version: 10 }), entries: [{ deviceId: patient.deviceId, revokedAt: -1 }] })],
    ['version 0', () => ({ ...aListBody({ version: 10 }), version: 0 })],
    ['a short signature', () => ({ ...aListBody({ version: 10 }), signature: toBase64(new Uint8Array(63)) })],
    ['an unknown field', () => ({ ...aListBody({ version: 10 }), revokedBy: 'server' })],
  ])('refuses %s as invalid_payload and stores nothing', async (_what, body) => {
    const before = await storedLists();

    const response = await api<{ error: { code: string } }>(gateway.url, 'PUT', '/api/practice/revocations', { token: practice.manager.token, body: body() });

    expect(response.status).toBe(400);
    expect(response.body.error.code).toBe('invalid_payload');
    expect(await storedLists()).toEqual(before);
  });

  it.each([
    ['a clinician', () => practice.clinician.token],
    ['a patient', () => patient.token],
  ])('refuses %s as forbidden', async (_who, token) => {
    const before = await storedLists();

    const response = await api<{ error: { code: string } }>(gateway.url, 'PUT', '/api/practice/revocations', {
      token: token(),
      body: aListBody({ version: 20 }),
    });

    expect(response.status).toBe(403);
    expect(await storedLists()).toEqual(before);
  });

  it('takes a list signed by an admin key the root certified, naming an admin key by its id, and refuses the next one that revoked key signs', async () => {
    const admin = await addPracticeAdminKey({ baseUrl: gateway.url, token: practice.manager.token, odsCode: practice.odsCode, root: practice.root });
    const other = await addPracticeAdminKey({ baseUrl: gateway.url, token: practice.manager.token, odsCode: practice.odsCode, root: practice.root });

    await apiOk(gateway.url, 'PUT', '/api/practice/revocations', {
      token: practice.manager.token,
      body: aListBody({ version: 30, entries: [{ deviceId: other.adminKeyId.toUpperCase(), revokedAt: 1 }] }, admin.keys),
    });
    const byRevoked = await api<{ error: { code: string } }>(gateway.url, 'PUT', '/api/practice/revocations', {
      token: practice.manager.token,
      body: aListBody({ version: 31, entries: [] }, other.keys),
    });

    expect(byRevoked.status).toBe(400);
    expect(byRevoked.body.error.code).toBe('invalid_payload');
    expect(await storedLists()).toEqual(expect.arrayContaining([{ version: 30 }]));
    expect(await storedLists()).not.toEqual(expect.arrayContaining([{ version: 31 }]));
    const newest = await apiOk<RevocationListResponse>(gateway.url, 'GET', '/api/practice/revocations', { token: patient.token });
    expect(newest.list?.entries).toEqual([{ deviceId: other.adminKeyId.toLowerCase(), revokedAt: 1 }]);
  });

  it('tells managers, and only them, which devices the server revoked that the newest list does not name yet', async () => {
    const fresh = await activatePatient(gateway.url, practice);
    // Signing out revokes a patient's device on the server; no manager's client has signed that into the list yet.
    expect((await api(gateway.url, 'POST', '/api/auth/sign-out', { token: fresh.token })).status).toBeLessThan(300);
    const [{ revoked_at: revokedAt }] = await gateway.dataSource.query(`SELECT revoked_at FROM devices WHERE id = $1`, [fresh.deviceId]);
    expect(revokedAt).not.toBeNull();

    const asManager = await apiOk<RevocationListResponse>(gateway.url, 'GET', '/api/practice/revocations', { token: practice.manager.token });
    expect(asManager.unlisted).toContainEqual({ deviceId: fresh.deviceId, revokedAt: new Date(revokedAt).getTime() });
    for (const member of [patient, practice.clinician]) {
      const answer = await apiOk<RevocationListResponse>(gateway.url, 'GET', '/api/practice/revocations', { token: member.token });
      expect(answer).not.toHaveProperty('unlisted');
    }
    const other = await apiOk<RevocationListResponse>(gateway.url, 'GET', '/api/practice/revocations', { token: otherPractice.manager.token });
    expect(other.unlisted ?? []).not.toContainEqual(expect.objectContaining({ deviceId: fresh.deviceId }));

    const newest = (await storedLists()).at(-1)!.version;
    const entries = [...asManager.list!.entries, ...asManager.unlisted!];
    await apiOk(gateway.url, 'PUT', '/api/practice/revocations', { token: practice.manager.token, body: aListBody({ version: newest + 1, entries }) });

    const after = await apiOk<RevocationListResponse>(gateway.url, 'GET', '/api/practice/revocations', { token: practice.manager.token });
    expect(after.unlisted).toEqual([]);
  });

  it('refuses a caller with no session', async () => {
    const response = await api(gateway.url, 'GET', '/api/practice/revocations');

    expect(response.status).toBe(401);
  });
});
