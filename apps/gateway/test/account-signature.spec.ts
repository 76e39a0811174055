// The unit test of src/account-keys/account-signature.ts. It lives in test/ because it signs with @parley/crypto,
// as the patient's client does, and no file under src/ may import it (architecture.spec.ts).
import { randomUUID } from 'node:crypto';
import { deriveInvitationKeys, generateInvitationCode, generatePatientAccountKeys, ready, signAccountKey, TEST_KDF_PARAMS } from '@parley/crypto';
import { isAccountSignatureValid } from '../src/account-keys/account-signature.js';

describe('isAccountSignatureValid', () => {
  beforeAll(() => ready());

  function aSignedAccountKey() {
    const practiceOdsCode = 'Y00001';
    const patientId = randomUUID();
    const invitation = deriveInvitationKeys(generateInvitationCode(), practiceOdsCode, { ...TEST_KDF_PARAMS });
    const account = generatePatientAccountKeys();
    const signature = signAccountKey(
      { practiceId: practiceOdsCode, patientId, signPublicKey: account.signPublicKey, boxPublicKey: account.boxPublicKey },
      invitation.signKeys.signSecretKey,
    );
    return {
      fields: { practiceOdsCode, patientId, signPublicKey: Buffer.from(account.signPublicKey), boxPublicKey: Buffer.from(account.boxPublicKey) },
      signature: Buffer.from(signature),
      invitationSignPublicKey: Buffer.from(invitation.signKeys.signPublicKey),
    };
  }

  it('accepts the signature the patient’s client makes with the invitation key', () => {
    const { fields, signature, invitationSignPublicKey } = aSignedAccountKey();

    expect(isAccountSignatureValid(fields, signature, invitationSignPublicKey)).toBe(true);
  });

  it('refuses a signature with one byte flipped, or over another patient, practice or key', () => {
    const { fields, signature, invitationSignPublicKey } = aSignedAccountKey();
    const flipped = Buffer.from(signature);
    flipped[10] = flipped[10]! ^ 0x01;

    expect(isAccountSignatureValid(fields, flipped, invitationSignPublicKey)).toBe(false);
    expect(isAccountSignatureValid({ ...fields, patientId: randomUUID() }, signature, invitationSignPublicKey)).toBe(false);
    expect(isAccountSignatureValid({ ...fields, practiceOdsCode: 'Y00002' }, signature, invitationSignPublicKey)).toBe(false);
    expect(isAccountSignatureValid({ ...fields, boxPublicKey: Buffer.alloc(32, 1) }, signature, invitationSignPublicKey)).toBe(false);
    expect(isAccountSignatureValid(fields, signature, aSignedAccountKey().invitationSignPublicKey)).toBe(false);
  });

  it('refuses keys and signatures of the wrong length without throwing', () => {
    const { fields, signature, invitationSignPublicKey } = aSignedAccountKey();

    expect(isAccountSignatureValid(fields, signature.subarray(1), invitationSignPublicKey)).toBe(false);
    expect(isAccountSignatureValid(fields, signature, invitationSignPublicKey.subarray(1))).toBe(false);
  });
});
