import fc from 'fast-check';
import {
  BACKUP_BLOB_BYTES,
  createEpochKey,
  decryptMessage,
  deriveAccountKeys,
  encryptMessage,
  fromBase64,
  generateDeviceKeys,
  generatePatientAccountKeys,
  generatePracticeRootKey,
  INVITATION_CODE_ALPHABET,
  INVITATION_CODE_LENGTH,
  normaliseInvitationCode,
  openBackup,
  readBackupHeader,
  ready,
  TEST_KDF_PARAMS,
  toBase64,
  newSalt,
  CRYPTO_ERROR_CODES,
  sealBackup,
  verifyStaffDeviceCertificate,
} from '../src/index.js';
import { aHeader, aPayload, aUuid, errorCodeOf } from './factories.js';

await ready();

/** A decoder fed anything either succeeds or throws a typed CryptoError: never another exception, never a crash. */
const TYPED = new Set<string>([...CRYPTO_ERROR_CODES, 'no error']);

describe('decoders on arbitrary input (fast-check)', () => {
  it('fromBase64 inverts toBase64 for any bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), (bytes) => {
        expect(fromBase64(toBase64(bytes))).toEqual(bytes);
      }),
    );
  });

  it('fromBase64 refuses any string with a character outside standard base64 as invalid_encoding', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 64 }), fc.constantFrom('-', '_', ' ', '\n', '*', '€', '\u0000'), fc.nat(64), (text, bad, at) => {
        const position = at % (text.length + 1);
        expect(errorCodeOf(() => fromBase64(text.slice(0, position) + bad + text.slice(position)))).toBe('invalid_encoding');
      }),
    );
  });

  it('readBackupHeader answers any blob with a header or a typed error', () => {
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ minLength: BACKUP_BLOB_BYTES, maxLength: BACKUP_BLOB_BYTES }), fc.uint8Array({ maxLength: 400 })), (blob) => {
        expect(TYPED.has(errorCodeOf(() => readBackupHeader(blob)))).toBe(true);
      }),
    );
  });

  it('openBackup never opens a blob with any byte altered, and fails typed', () => {
    const userId = aUuid();
    const passphraseKeys = deriveAccountKeys('correct horse battery staple orbit', newSalt(), TEST_KDF_PARAMS);
    const blob = sealBackup({
      userId,
      backupVersion: 1,
      accountKeys: generatePatientAccountKeys(),
      pinnedRoot: generatePracticeRootKey().signPublicKey,
      passphraseKeys,
    });
    fc.assert(
      fc.property(fc.nat(BACKUP_BLOB_BYTES - 1), fc.integer({ min: 1, max: 255 }), (index, mask) => {
        const tampered = Uint8Array.from(blob);
        tampered[index]! ^= mask;
        const code = errorCodeOf(() => openBackup({ blob: tampered, userId, passphraseKeys }));
        expect(code).not.toBe('no error');
        expect(TYPED.has(code)).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  it('openBackup never opens a random blob, and fails typed', () => {
    const passphraseKeys = deriveAccountKeys('correct horse battery staple orbit', newSalt(), TEST_KDF_PARAMS);
    fc.assert(
      fc.property(fc.uint8Array({ minLength: BACKUP_BLOB_BYTES, maxLength: BACKUP_BLOB_BYTES }), (blob) => {
        const code = errorCodeOf(() => openBackup({ blob, userId: aUuid(), passphraseKeys }));
        expect(code).not.toBe('no error');
        expect(TYPED.has(code)).toBe(true);
      }),
      { numRuns: 50 },
    );
  });

  it('normaliseInvitationCode answers any string with 13 symbols of the alphabet, unchanged when normalised again, or invalid_input', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ maxLength: 80 }),
          fc.string({ unit: fc.constantFrom(...'0123456789abcdefghijklmnopqrstuvwxyz -OIL'), minLength: 10, maxLength: 20 }),
        ),
        (typed) => {
          const code = errorCodeOf(() => normaliseInvitationCode(typed));
          if (code !== 'no error') {
            expect(code).toBe('invalid_input');
            return;
          }
          const bare = normaliseInvitationCode(typed);
          expect(bare).toHaveLength(INVITATION_CODE_LENGTH);
          expect([...bare].every((symbol) => INVITATION_CODE_ALPHABET.includes(symbol))).toBe(true);
          expect(normaliseInvitationCode(bare)).toBe(bare);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('verifyStaffDeviceCertificate refuses arbitrary signature bytes, typed', () => {
    const root = generatePracticeRootKey();
    const device = generateDeviceKeys();
    const fields = { practiceId: 'A81001', userId: aUuid(), deviceId: aUuid(), ...device, displayName: 'Dr A Patel', roles: ['clinician'] as const };
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), (signature) => {
        const code = errorCodeOf(() => verifyStaffDeviceCertificate(fields, signature, root.signPublicKey));
        expect(code).not.toBe('no error');
        expect(TYPED.has(code)).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  it('decryptMessage fails typed for any tampered ciphertext or nonce, and never returns a payload', () => {
    const sender = generateDeviceKeys();
    const epochKey = createEpochKey();
    const header = aHeader();
    const { ciphertext, nonce } = encryptMessage(header, aPayload(), epochKey, sender.signSecretKey);
    fc.assert(
      fc.property(fc.nat(ciphertext.length + nonce.length - 1), fc.integer({ min: 1, max: 255 }), (index, mask) => {
        const tamperedCiphertext = Uint8Array.from(ciphertext);
        const tamperedNonce = Uint8Array.from(nonce);
        if (index < ciphertext.length) tamperedCiphertext[index]! ^= mask;
        else tamperedNonce[index - ciphertext.length]! ^= mask;
        const code = errorCodeOf(() => decryptMessage(header, tamperedCiphertext, tamperedNonce, epochKey, sender.signPublicKey));
        expect(code).not.toBe('no error');
        expect(TYPED.has(code)).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  it('decryptMessage answers arbitrary bytes of any length with a typed error', () => {
    const sender = generateDeviceKeys();
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), fc.uint8Array({ maxLength: 40 }), fc.uint8Array({ maxLength: 40 }), (ciphertext, nonce, key) => {
        const code = errorCodeOf(() => decryptMessage(aHeader(), ciphertext, nonce, key, sender.signPublicKey));
        expect(code).not.toBe('no error');
        expect(TYPED.has(code)).toBe(true);
      }),
      { numRuns: 200 },
    );
  });
});
