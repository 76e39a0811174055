import type { StaffDeviceCertificateFields, StaffRole } from '../src/index.js';
import {
  certifyDevice,
  certifyPatientAccountKey,
  certifyStaffDevice,
  generateDeviceKeys,
  generatePatientAccountKeys,
  generatePracticeRootKey,
  ready,
  verifyDeviceCertificate,
  verifyPatientAccountKeyCertificate,
  verifyStaffDeviceCertificate,
} from '../src/index.js';
import { aUuid, errorCodeOf, flipped } from './factories.js';

await ready();

describe('certifyDevice', () => {
  function aDeviceCertificate() {
    const pak = generatePatientAccountKeys();
    const device = generateDeviceKeys();
    const certificate = certifyDevice(
      { userId: aUuid(), deviceId: aUuid(), signPublicKey: device.signPublicKey, boxPublicKey: device.boxPublicKey },
      pak.signSecretKey,
    );
    return { pak, certificate };
  }

  it('makes a certificate that verifies against the issuer', () => {
    const { pak, certificate } = aDeviceCertificate();

    expect(errorCodeOf(() => verifyDeviceCertificate(certificate, pak.signPublicKey))).toBe('no error');
  });

  it('fails as bad_certificate against another issuer', () => {
    const { certificate } = aDeviceCertificate();

    expect(errorCodeOf(() => verifyDeviceCertificate(certificate, generatePatientAccountKeys().signPublicKey))).toBe('bad_certificate');
  });

  it.each([
    ['user id', { userId: aUuid() }],
    ['device id', { deviceId: aUuid() }],
    ['sign key', { signPublicKey: generateDeviceKeys().signPublicKey }],
    ['box key', { boxPublicKey: generateDeviceKeys().boxPublicKey }],
  ])('fails as bad_certificate when the %s is swapped', (_field, change) => {
    const { pak, certificate } = aDeviceCertificate();

    expect(errorCodeOf(() => verifyDeviceCertificate({ ...certificate, ...change }, pak.signPublicKey))).toBe('bad_certificate');
  });

  it('refuses a truncated signature as invalid_length', () => {
    const { pak, certificate } = aDeviceCertificate();

    const action = () => verifyDeviceCertificate({ ...certificate, signature: certificate.signature.subarray(0, 63) }, pak.signPublicKey);

    expect(errorCodeOf(action)).toBe('invalid_length');
  });

  it('refuses an issuer secret key of the wrong length as invalid_length', () => {
    const device = generateDeviceKeys();

    const action = () => certifyDevice({ userId: aUuid(), deviceId: aUuid(), ...device }, device.boxSecretKey);

    expect(errorCodeOf(action)).toBe('invalid_length');
  });

  it('refuses a user id that is not a UUID as invalid_input', () => {
    const device = generateDeviceKeys();

    expect(errorCodeOf(() => certifyDevice({ userId: 'alice', deviceId: aUuid(), ...device }, device.signSecretKey))).toBe('invalid_input');
  });
});

describe('certifyPatientAccountKey', () => {
  it('verifies against the practice key and not after a flipped signature bit', () => {
    const practice = generatePracticeRootKey();
    const pak = generatePatientAccountKeys();
    const certificate = certifyPatientAccountKey({ patientId: aUuid(), ...pak }, practice.signSecretKey);

    const tampered = { ...certificate, signature: flipped(certificate.signature, 10) };

    expect(errorCodeOf(() => verifyPatientAccountKeyCertificate(certificate, practice.signPublicKey))).toBe('no error');
    expect(errorCodeOf(() => verifyPatientAccountKeyCertificate(tampered, practice.signPublicKey))).toBe('bad_certificate');
  });

  it('does not verify as another patient', () => {
    const practice = generatePracticeRootKey();
    const pak = generatePatientAccountKeys();
    const certificate = certifyPatientAccountKey({ patientId: aUuid(), ...pak }, practice.signSecretKey);

    const action = () => verifyPatientAccountKeyCertificate({ ...certificate, patientId: aUuid() }, practice.signPublicKey);

    expect(errorCodeOf(action)).toBe('bad_certificate');
  });
});

describe('certifyStaffDevice', () => {
  function aStaffCertificate(changes: Partial<StaffDeviceCertificateFields> = {}) {
    const root = generatePracticeRootKey();
    const device = generateDeviceKeys();
    const fields: StaffDeviceCertificateFields = {
      practiceId: 'A81001',
      userId: aUuid(),
      deviceId: aUuid(),
      signPublicKey: device.signPublicKey,
      boxPublicKey: device.boxPublicKey,
      displayName: 'Dr Zoë Ó Briain',
      roles: ['clinician', 'manager'],
      ...changes,
    };
    return { root, fields, signature: certifyStaffDevice(fields, root.signSecretKey) };
  }

  it('makes a certificate that verifies against the root key only', () => {
    const { root, fields, signature } = aStaffCertificate();

    expect(errorCodeOf(() => verifyStaffDeviceCertificate(fields, signature, root.signPublicKey))).toBe('no error');
    expect(errorCodeOf(() => verifyStaffDeviceCertificate(fields, signature, generatePracticeRootKey().signPublicKey))).toBe('bad_certificate');
  });

  it.each<[string, (fields: StaffDeviceCertificateFields) => Partial<StaffDeviceCertificateFields>]>([
    ['practice id', () => ({ practiceId: 'A81002' })],
    ['user id', () => ({ userId: aUuid() })],
    ['device id', () => ({ deviceId: aUuid() })],
    ['sign key', (fields) => ({ signPublicKey: flipped(fields.signPublicKey, 0) })],
    ['box key', (fields) => ({ boxPublicKey: flipped(fields.boxPublicKey, 0) })],
    ['roles (one dropped)', () => ({ roles: ['clinician'] })],
    ['roles (another role)', () => ({ roles: ['manager'] })],
    ['display name', () => ({ displayName: 'Dr Zoë Ó Briain.' })],
  ])('fails as bad_certificate when the %s changes', (_field, change) => {
    const { root, fields, signature } = aStaffCertificate();

    expect(errorCodeOf(() => verifyStaffDeviceCertificate({ ...fields, ...change(fields) }, signature, root.signPublicKey))).toBe('bad_certificate');
  });

  it('fails as bad_certificate for a flipped signature bit', () => {
    const { root, fields, signature } = aStaffCertificate();

    expect(errorCodeOf(() => verifyStaffDeviceCertificate(fields, flipped(signature, 20), root.signPublicKey))).toBe('bad_certificate');
  });

  it('fails as bad_certificate when only the role changes from clinician to manager', () => {
    const { root, fields, signature } = aStaffCertificate({ roles: ['clinician'] });

    expect(errorCodeOf(() => verifyStaffDeviceCertificate({ ...fields, roles: ['manager'] }, signature, root.signPublicKey))).toBe('bad_certificate');
  });

  it('encodes roles in any order or repeated as the same set', () => {
    const { root, fields, signature } = aStaffCertificate({ roles: ['manager', 'clinician', 'manager'] });

    const reordered = certifyStaffDevice({ ...fields, roles: ['clinician', 'manager'] }, root.signSecretKey);

    expect(reordered).toEqual(signature);
    expect(errorCodeOf(() => verifyStaffDeviceCertificate({ ...fields, roles: ['clinician', 'manager'] }, signature, root.signPublicKey))).toBe('no error');
  });

  it('signs a name typed with composed or decomposed accents as one name (NFC)', () => {
    const { root, fields, signature } = aStaffCertificate({ displayName: 'Zo\u00eb' });

    expect(errorCodeOf(() => verifyStaffDeviceCertificate({ ...fields, displayName: 'Zoe\u0308' }, signature, root.signPublicKey))).toBe('no error');
  });

  it('accepts a display name of 1,024 bytes', () => {
    const { root, fields, signature } = aStaffCertificate({ displayName: '\u00e9'.repeat(512) });

    expect(errorCodeOf(() => verifyStaffDeviceCertificate(fields, signature, root.signPublicKey))).toBe('no error');
  });

  it.each<[string, Partial<StaffDeviceCertificateFields>]>([
    ['no roles', { roles: [] }],
    ['an unknown role', { roles: ['clinician', 'admin' as StaffRole] }],
    ['a role named after an Object method', { roles: ['toString' as StaffRole] }],
    ['roles that are not a list', { roles: 'clinician' as unknown as StaffRole[] }],
    ['an empty display name', { displayName: '' }],
    ['a display name over 1,024 bytes', { displayName: '\u00e9'.repeat(512) + 'a' }],
    ['a display name with a lone surrogate', { displayName: 'Dr \ud800 Patel' }],
    ['a display name that is not a string', { displayName: 7 as unknown as string }],
    ['a practice id over 255 bytes', { practiceId: 'A'.repeat(256) }],
    ['a device id that is not a UUID', { deviceId: 'laptop' }],
  ])('refuses %s as invalid_input', (_case, changes) => {
    const root = generatePracticeRootKey();
    const device = generateDeviceKeys();
    const fields: StaffDeviceCertificateFields = {
      practiceId: 'A81001',
      userId: aUuid(),
      deviceId: aUuid(),
      signPublicKey: device.signPublicKey,
      boxPublicKey: device.boxPublicKey,
      displayName: 'Dr A Patel',
      roles: ['clinician'],
      ...changes,
    };

    expect(errorCodeOf(() => certifyStaffDevice(fields, root.signSecretKey))).toBe('invalid_input');
  });

  it('refuses keys and signatures of the wrong length as invalid_length', () => {
    const { root, fields, signature } = aStaffCertificate();

    expect(errorCodeOf(() => certifyStaffDevice(fields, root.signPublicKey))).toBe('invalid_length');
    expect(errorCodeOf(() => certifyStaffDevice({ ...fields, signPublicKey: new Uint8Array(64) }, root.signSecretKey))).toBe('invalid_length');
    expect(errorCodeOf(() => verifyStaffDeviceCertificate(fields, signature.subarray(1), root.signPublicKey))).toBe('invalid_length');
    expect(errorCodeOf(() => verifyStaffDeviceCertificate(fields, signature, root.signSecretKey))).toBe('invalid_length');
  });
});
