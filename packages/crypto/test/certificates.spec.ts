import {
  certifyDevice,
  certifyPatientAccountKey,
  generateDeviceKeys,
  generatePatientAccountKeys,
  generatePracticeRootKey,
  ready,
  verifyDeviceCertificate,
  verifyPatientAccountKeyCertificate,
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
