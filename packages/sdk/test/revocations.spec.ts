import { randomUUID } from 'node:crypto';
import type { HttpResult } from '@parley/client';
import {
  certifyAdminKey,
  certifyStaffDevice,
  generateDeviceKeys,
  generatePracticeRootKey,
  ready,
  signRevocationList,
  toBase64,
  type RevocationListFields,
  type SigningKeys,
} from '@parley/crypto';
import type { PracticeKeys, RevocationListResponse } from '@parley/protocol';
import { isDeviceTrusted, isRevokedAt, RevocationState } from '../src/index.js';

await ready();

const ODS = 'A81001';

function aList(root: SigningKeys, fields: Partial<RevocationListFields> = {}, signer: SigningKeys = root): RevocationListResponse {
  const list: RevocationListFields = { practiceId: ODS, version: 1, issuedAt: 1_000, entries: [], ...fields };
  return {
    list: {
      practiceOdsCode: ODS,
      version: list.version,
      issuedAt: list.issuedAt,
      entries: [...list.entries],
      signerSignPublicKey: toBase64(signer.signPublicKey),
      signature: toBase64(signRevocationList(list, signer.signSecretKey)),
    },
  };
}

/** A RevocationState whose server answers what the test puts in `answers`, one per refresh. */
function aState(root: SigningKeys, answers: RevocationListResponse[], options: { versionFloor?: number; onVersionFloor?: (v: number) => void } = {}) {
  const api = { getRevocations: async (): Promise<HttpResult<RevocationListResponse>> => ({ ok: true, data: answers.shift() ?? { list: null } }) };
  return new RevocationState({ api, practiceOdsCode: ODS, pinnedRoot: root.signPublicKey, ...options });
}

describe(RevocationState.name, () => {
  const phone = randomUUID();

  it('takes a root-signed list and answers whether a device was revoked at a time', async () => {
    const root = generatePracticeRootKey();
    const floors: number[] = [];
    const state = aState(root, [aList(root, { version: 3, entries: [{ deviceId: phone.toUpperCase(), revokedAt: 5_000 }] })], {
      onVersionFloor: (v) => floors.push(v),
    });

    await state.refresh();

    expect(state.version).toBe(3);
    expect(floors).toEqual([3]);
    expect(state.isRevoked(phone)).toBe(true);
    expect(state.isRevoked(phone, 4_999)).toBe(false);
    expect(state.isRevoked(phone, 5_000)).toBe(true);
    expect(state.isRevoked(randomUUID())).toBe(false);
    expect(isRevokedAt(state.revoked, phone.toUpperCase(), 6_000)).toBe(true);
  });

  it.each<[string, (root: SigningKeys) => RevocationListResponse]>([
    ['a lower version than the floor', (root) => aList(root, { version: 4 })],
    ['no list once one was seen', () => ({ list: null })],
  ])('refuses %s as revocations_rolled_back and keeps what it had', async (_what, answer) => {
    const root = generatePracticeRootKey();
    const state = aState(root, [aList(root, { version: 5, entries: [{ deviceId: phone, revokedAt: 1 }] }), answer(root)]);
    await state.refresh();

    await expect(state.refresh()).rejects.toMatchObject({ code: 'revocations_rolled_back' });
    expect(state.version).toBe(5);
    expect(state.isRevoked(phone)).toBe(true);
  });

  it('refuses a lower version than the floor the app kept, on a fresh start', async () => {
    const root = generatePracticeRootKey();
    const state = aState(root, [aList(root, { version: 2 })], { versionFloor: 3 });

    await expect(state.refresh()).rejects.toMatchObject({ code: 'revocations_rolled_back' });
  });

  it.each<[string, (root: SigningKeys) => RevocationListResponse]>([
    ['signed by another key', (root) => aList(root, { version: 2 }, generatePracticeRootKey())],
    [
      'naming the root as signer over another key’s signature',
      (root) => {
        const forged = aList(root, { version: 2 }, generatePracticeRootKey());
        return { list: forged.list && { ...forged.list, signerSignPublicKey: toBase64(root.signPublicKey) } };
      },
    ],
    [
      'with an entry dropped after signing',
      (root) => {
        const signed = aList(root, { version: 2, entries: [{ deviceId: randomUUID(), revokedAt: 1 }] });
        return { list: signed.list && { ...signed.list, entries: [] } };
      },
    ],
    ['signed for another practice', (root) => ({ list: { ...aList(root, { version: 2, practiceId: 'B82002' }).list!, practiceOdsCode: ODS } })],
  ])('refuses a list %s as untrusted_revocations', async (_what, answer) => {
    const root = generatePracticeRootKey();
    const state = aState(root, [answer(root)]);

    await expect(state.refresh()).rejects.toMatchObject({ code: 'untrusted_revocations' });
    expect(state.version).toBe(0);
  });

  it('accepts a key the caller allows (an admin key it verified), and only that one', async () => {
    const root = generatePracticeRootKey();
    const admin = generatePracticeRootKey();
    const api = { getRevocations: async (): Promise<HttpResult<RevocationListResponse>> => ({ ok: true, data: aList(root, { version: 2 }, admin) }) };
    const allowing = new RevocationState({
      api,
      practiceOdsCode: ODS,
      pinnedRoot: root.signPublicKey,
      isSignerAllowed: (key) => toBase64(key) === toBase64(admin.signPublicKey),
    });
    const refusing = new RevocationState({ api, practiceOdsCode: ODS, pinnedRoot: root.signPublicKey });

    await expect(allowing.refresh()).resolves.toMatchObject({ version: 2 });
    await expect(refusing.refresh()).rejects.toMatchObject({ code: 'untrusted_revocations' });
  });
});

describe('RevocationState under the practice authority', () => {
  it('takes a list signed by an admin key the pinned root certified, and no longer once a verified list names that key', async () => {
    const root = generatePracticeRootKey();
    const admin = generatePracticeRootKey();
    const adminKeyId = randomUUID();
    const issuedAt = 1_000;
    const adminKeys = [
      {
        adminKeyId,
        signPublicKey: toBase64(admin.signPublicKey),
        issuedAt,
        certificate: toBase64(certifyAdminKey({ practiceId: ODS, adminKeyId, signPublicKey: admin.signPublicKey, issuedAt }, root.signSecretKey)),
      },
    ];
    const answers = [aList(root, { version: 2, entries: [{ deviceId: adminKeyId, revokedAt: 5 }] }, admin), aList(root, { version: 3, entries: [] }, admin)];
    const api = {
      getRevocations: async (): Promise<HttpResult<RevocationListResponse>> => ({ ok: true, data: answers.shift() ?? { list: null } }),
      getPracticeKeys: async () => ({ ok: true, data: { adminKeys, rootChain: [] } }) as unknown as HttpResult<PracticeKeys>,
    };
    const state = new RevocationState({ api, practiceOdsCode: ODS, pinnedRoot: root.signPublicKey });

    await expect(state.refresh()).resolves.toMatchObject({ version: 2 });
    await expect(state.refresh()).rejects.toMatchObject({ code: 'untrusted_revocations' });
    expect(state.version).toBe(2);
  });
});

describe('isDeviceTrusted with a revocation list', () => {
  it('refuses a root-certified staff device at and after its revokedAt, and now, but trusts what it did before', () => {
    const root = generatePracticeRootKey();
    const keys = generateDeviceKeys();
    const certifiedAs = { displayName: 'Dr Alex Morgan', roles: ['clinician' as const] };
    const fields = {
      practiceId: ODS,
      userId: randomUUID(),
      deviceId: randomUUID(),
      signPublicKey: keys.signPublicKey,
      boxPublicKey: keys.boxPublicKey,
      ...certifiedAs,
    };
    const device = {
      id: fields.deviceId,
      userId: fields.userId,
      role: 'clinician',
      displayName: 'what the server says',
      signPublicKey: toBase64(keys.signPublicKey),
      boxPublicKey: toBase64(keys.boxPublicKey),
      certificate: toBase64(certifyStaffDevice(fields, root.signSecretKey)),
      certifiedAs,
      revokedAt: null,
    } as unknown as Parameters<typeof isDeviceTrusted>[0];
    const joined = { conversation: { practiceOdsCode: ODS, patientId: randomUUID() }, patientAccount: null } as unknown as Parameters<
      typeof isDeviceTrusted
    >[1];
    const revoked = new Map([[device.id, 2_000]]);

    expect(isDeviceTrusted(device, joined, root.signPublicKey)).toBe(true);
    expect(isDeviceTrusted(device, joined, root.signPublicKey, undefined, revoked, 1_999)).toBe(true);
    expect(isDeviceTrusted(device, joined, root.signPublicKey, undefined, revoked, 2_000)).toBe(false);
    expect(isDeviceTrusted(device, joined, root.signPublicKey, undefined, revoked)).toBe(false);
  });
});
