import { randomUUID } from 'node:crypto';
import {
  certifyDevice,
  certifyPatientAccountKey,
  certifyStaffDevice,
  deriveInvitationKeys,
  generateDeviceKeys,
  generateInvitationCode,
  generatePatientAccountKeys,
  generatePracticeRootKey,
  ready,
  signAccountKey,
  signInvitation,
  TEST_KDF_PARAMS,
  toBase64,
} from '@parley/crypto';
import type { JoinedConversation, MemberDevice, PatientAccountKey } from '@parley/protocol';
import { isDeviceTrusted } from '../src/index.js';

const PRACTICE = 'A81001';

/**
 * Flow B's trust rule for the patient's earlier devices (docs/crypto.md, "Practice-assisted recovery"): a device certified
 * by an account key a recovery retired counts only as a past sender: the retired key must chain to the root on its own,
 * and the server must list the device as revoked (a server that lists it active makes it untrusted, so nobody seals to it).
 */
describe('isDeviceTrusted after a practice-assisted recovery', () => {
  const patientId = randomUUID();
  let joined: Pick<JoinedConversation, 'patientAccount' | 'conversation'>;
  let oldDevice: MemberDevice;
  let root: ReturnType<typeof generatePracticeRootKey>;
  let retired: PatientAccountKey;
  let newAccount: ReturnType<typeof generatePatientAccountKeys>;

  beforeAll(async () => {
    await ready();
    root = generatePracticeRootKey();
    const staff = { userId: randomUUID(), deviceId: randomUUID(), keys: generateDeviceKeys() };
    const certifiedAs = { displayName: 'Dr Alex Morgan', roles: ['clinician' as const] };
    const staffCertificate = certifyStaffDevice(
      {
        practiceId: PRACTICE,
        userId: staff.userId,
        deviceId: staff.deviceId,
        signPublicKey: staff.keys.signPublicKey,
        boxPublicKey: staff.keys.boxPublicKey,
        ...certifiedAs,
      },
      root.signSecretKey,
    );
    const invitation = deriveInvitationKeys(generateInvitationCode(), PRACTICE, TEST_KDF_PARAMS).signKeys;
    const expiresAt = Date.now() + 86_400_000;
    const oldAccount = generatePatientAccountKeys();
    retired = {
      userId: patientId,
      signPublicKey: toBase64(oldAccount.signPublicKey),
      boxPublicKey: toBase64(oldAccount.boxPublicKey),
      accountSignature: toBase64(
        signAccountKey(
          { practiceId: PRACTICE, patientId, signPublicKey: oldAccount.signPublicKey, boxPublicKey: oldAccount.boxPublicKey },
          invitation.signSecretKey,
        ),
      ),
      invitation: {
        invitationSignPublicKey: toBase64(invitation.signPublicKey),
        invitationSignature: toBase64(
          signInvitation({ practiceId: PRACTICE, patientId, invitationSignPublicKey: invitation.signPublicKey, expiresAt }, staff.keys.signSecretKey),
        ),
        expiresAt,
        creator: {
          userId: staff.userId,
          deviceId: staff.deviceId,
          signPublicKey: toBase64(staff.keys.signPublicKey),
          boxPublicKey: toBase64(staff.keys.boxPublicKey),
          certificate: toBase64(staffCertificate),
          certifiedAs,
        },
      },
      certificate: null,
    };
    const device = { id: randomUUID(), keys: generateDeviceKeys() };
    const deviceCertificate = certifyDevice(
      { userId: patientId, deviceId: device.id, signPublicKey: device.keys.signPublicKey, boxPublicKey: device.keys.boxPublicKey },
      oldAccount.signSecretKey,
    );
    oldDevice = {
      id: device.id,
      userId: patientId,
      role: 'patient',
      displayName: 'Rita Forgetful',
      signPublicKey: toBase64(device.keys.signPublicKey),
      boxPublicKey: toBase64(device.keys.boxPublicKey),
      certificate: toBase64(deviceCertificate.signature),
      certifiedAs: null,
      revokedAt: new Date().toISOString(),
    };
    newAccount = generatePatientAccountKeys();
    const certificate = certifyPatientAccountKey(
      { patientId, signPublicKey: newAccount.signPublicKey, boxPublicKey: newAccount.boxPublicKey },
      root.signSecretKey,
    );
    joined = {
      conversation: { practiceOdsCode: PRACTICE, patientId } as JoinedConversation['conversation'],
      patientAccount: {
        userId: patientId,
        signPublicKey: toBase64(newAccount.signPublicKey),
        boxPublicKey: toBase64(newAccount.boxPublicKey),
        accountSignature: null,
        invitation: null,
        certificate: toBase64(certificate.signature),
        retired: [retired],
      },
    };
  });

  it('trusts a revoked earlier device through the retired key, for staff and for the patient holding the new key', () => {
    const own = { signPublicKey: newAccount.signPublicKey, boxPublicKey: newAccount.boxPublicKey };

    expect(isDeviceTrusted(oldDevice, joined, root.signPublicKey)).toBe(true);
    expect(isDeviceTrusted(oldDevice, joined, root.signPublicKey, own)).toBe(true);
  });

  it('does not trust it when the server lists it as active again', () => {
    expect(isDeviceTrusted({ ...oldDevice, revokedAt: null }, joined, root.signPublicKey)).toBe(false);
  });

  it('does not trust it when the retired key does not chain to the root (another root, or a forged account signature)', () => {
    const forged = { ...retired, accountSignature: toBase64(new Uint8Array(64).fill(3)) };

    expect(isDeviceTrusted(oldDevice, joined, generatePracticeRootKey().signPublicKey)).toBe(false);
    expect(isDeviceTrusted(oldDevice, { ...joined, patientAccount: { ...joined.patientAccount!, retired: [forged] } }, root.signPublicKey)).toBe(false);
  });

  it('does not trust it without a retired key listed', () => {
    expect(isDeviceTrusted(oldDevice, { ...joined, patientAccount: { ...joined.patientAccount!, retired: [] } }, root.signPublicKey)).toBe(false);
  });
});
