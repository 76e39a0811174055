import {
  certifyAdminKey,
  certifyStaffDevice,
  generateDeviceKeys,
  generatePracticeRootKey,
  ready,
  signRootSuccessor,
  toBase64,
  type SigningKeys,
} from '@parley/crypto';
import type { CertifiedAdminKey, CertifiedDevice, RootSuccessorLink } from '@parley/protocol';
import { authoritySignKeys, practiceAuthority } from '../src/authority.js';
import { verifiedStaff } from '../src/trust.js';

await ready();

const PRACTICE = 'A81001';

function successor(previous: SigningKeys, next: SigningKeys, practiceId = PRACTICE): RootSuccessorLink {
  const fields = { practiceId, previousSignPublicKey: previous.signPublicKey, signPublicKey: next.signPublicKey, issuedAt: Date.UTC(2026, 3, 1) };
  return {
    previousSignPublicKey: toBase64(previous.signPublicKey),
    signPublicKey: toBase64(next.signPublicKey),
    issuedAt: fields.issuedAt,
    signature: toBase64(signRootSuccessor(fields, previous.signSecretKey)),
  };
}

function adminKey(certifiedBy: SigningKeys, admin = generatePracticeRootKey()): { listed: CertifiedAdminKey; admin: SigningKeys } {
  const adminKeyId = crypto.randomUUID();
  const issuedAt = Date.UTC(2026, 2, 1);
  const certificate = certifyAdminKey({ practiceId: PRACTICE, adminKeyId, signPublicKey: admin.signPublicKey, issuedAt }, certifiedBy.signSecretKey);
  return { listed: { adminKeyId, signPublicKey: toBase64(admin.signPublicKey), issuedAt, certificate: toBase64(certificate) }, admin };
}

function staffDevice(signer: SigningKeys): CertifiedDevice {
  const keys = generateDeviceKeys();
  const fields = {
    practiceId: PRACTICE,
    userId: crypto.randomUUID(),
    deviceId: crypto.randomUUID(),
    ...keys,
    displayName: 'Dr Alex Morgan',
    roles: ['clinician' as const],
  };
  return {
    userId: fields.userId,
    deviceId: fields.deviceId,
    signPublicKey: toBase64(keys.signPublicKey),
    boxPublicKey: toBase64(keys.boxPublicKey),
    certificate: toBase64(certifyStaffDevice(fields, signer.signSecretKey)),
    certifiedAs: { displayName: fields.displayName, roles: fields.roles },
  };
}

describe(practiceAuthority.name, () => {
  const first = generatePracticeRootKey();
  const second = generatePracticeRootKey();
  const third = generatePracticeRootKey();

  it('follows successor statements from the pinned root, retiring each root passed', () => {
    const authority = practiceAuthority({ rootChain: [successor(first, second), successor(second, third)], adminKeys: [] }, PRACTICE, first.signPublicKey);

    expect(authority.root).toEqual(third.signPublicKey);
    expect(authority.retiredRoots).toEqual([first.signPublicKey, second.signPublicKey]);
  });

  it('starts from a later root when that is the one pinned, whatever the server lists before it', () => {
    const authority = practiceAuthority({ rootChain: [successor(first, second), successor(second, third)], adminKeys: [] }, PRACTICE, second.signPublicKey);

    expect(authority.root).toEqual(third.signPublicKey);
  });

  it('stays at the pinned root when the server names a successor the pinned root did not sign', () => {
    const forger = generatePracticeRootKey();
    const forged = { ...successor(forger, third), previousSignPublicKey: toBase64(first.signPublicKey) };

    const authority = practiceAuthority({ rootChain: [forged], adminKeys: [] }, PRACTICE, first.signPublicKey);

    expect(authority.root).toEqual(first.signPublicKey);
    expect(authority.retiredRoots).toEqual([]);
  });

  it('refuses a successor signed for another practice, and a chain that loops back to a retired root', () => {
    const elsewhere = practiceAuthority({ rootChain: [successor(first, second, 'B82002')], adminKeys: [] }, PRACTICE, first.signPublicKey);
    const looped = practiceAuthority({ rootChain: [successor(first, second), successor(second, first)], adminKeys: [] }, PRACTICE, first.signPublicKey);

    expect(elsewhere.root).toEqual(first.signPublicKey);
    expect(looped.root).toEqual(second.signPublicKey);
  });

  it('keeps only admin keys the current root certified and the revocation list does not name', () => {
    const current = adminKey(second);
    const byRetiredRoot = adminKey(first);
    const selfCertified = adminKey(generatePracticeRootKey());
    const revoked = adminKey(second);

    const authority = practiceAuthority(
      { rootChain: [successor(first, second)], adminKeys: [current.listed, byRetiredRoot.listed, selfCertified.listed, revoked.listed] },
      PRACTICE,
      first.signPublicKey,
      new Map([[revoked.listed.adminKeyId, Date.UTC(2026, 4, 1)]]),
    );

    expect(authority.adminKeys.map((key) => key.adminKeyId)).toEqual([current.listed.adminKeyId]);
    expect(authoritySignKeys(authority)).toEqual([second.signPublicKey, current.admin.signPublicKey]);
  });
});

describe('verifiedStaff under a practice authority', () => {
  const first = generatePracticeRootKey();
  const second = generatePracticeRootKey();
  const { listed, admin } = adminKey(second);
  const authority = practiceAuthority({ rootChain: [successor(first, second)], adminKeys: [listed] }, PRACTICE, first.signPublicKey);

  it('accepts a certificate by the current root or its certified admin key', () => {
    expect(verifiedStaff(staffDevice(second), PRACTICE, authority)).not.toBeNull();
    expect(verifiedStaff(staffDevice(admin), PRACTICE, authority)).not.toBeNull();
  });

  it('refuses a certificate by the retired root, which the pinned root alone would still accept', () => {
    const signedByRetired = staffDevice(first);

    expect(verifiedStaff(signedByRetired, PRACTICE, authority)).toBeNull();
    expect(verifiedStaff(signedByRetired, PRACTICE, first.signPublicKey)).not.toBeNull();
  });

  it('refuses a certificate by an admin key the root never certified', () => {
    expect(verifiedStaff(staffDevice(generatePracticeRootKey()), PRACTICE, authority)).toBeNull();
  });
});
