import { readFileSync } from 'node:fs';
import { DEFAULT_KDF_PARAMS, fromBase64, generateDeviceKeys, generatePracticeRootKey, ready, toBase64 } from '@parley/crypto';
import {
  AccountFlowError,
  openOfflineRoot,
  openStaffKeyBackup,
  sealOfflineRoot,
  sealStaffKeyBackup,
  STAFF_KEY_FILE_KDF_PARAMS,
  StaffKeyBackupError,
} from '../src/index.js';

// A manager's file made by the format-2 code before issue #21 (test keys only): it must still restore.
const format2 = JSON.parse(readFileSync(new URL('./fixtures/staff-keys-format2.json', import.meta.url), 'utf8')) as {
  passphrase: string;
  expected: { deviceSignPublicKey: string; deviceBoxPublicKey: string; rootSignPublicKey: string };
  file: string;
};

const MiB = 1024 * 1024;
// Argon2id at the key file's cost takes a second or two per derivation here.
const SLOW = 60_000;

interface FileShape {
  format: string;
  kdf: { salt: string; opsLimit: number; memLimitBytes: number };
  device: string;
  root?: string;
  adminKeyId?: string;
  admin?: string;
}

describe('staff key backup file (sdk)', () => {
  const passphrase = 'copper meadow ladder violin orbit puzzle';
  let manager: Awaited<ReturnType<typeof aManager>>;
  let text: string;
  const aManager = async () => {
    await ready();
    const root = generatePracticeRootKey();
    return {
      odsCode: 'Y01234',
      login: 'manager@test.parley',
      userId: '8d7e7f0e-0b5e-4a36-9d0e-1d2b1b6f8a11',
      device: { deviceId: 'f3c1a9e2-5d4b-4c3a-8b2a-1e0f9d8c7b6a', keys: generateDeviceKeys() },
      pinnedRoot: root.signPublicKey,
      root,
    };
  };
  const edited = (change: (file: FileShape) => void): string => {
    const file = JSON.parse(text) as FileShape;
    change(file);
    return JSON.stringify(file);
  };
  const refusal = async (file: string) => {
    const error = await openStaffKeyBackup(file, passphrase).catch((caught: unknown) => caught);
    return error instanceof StaffKeyBackupError ? { code: error.code, fault: error.fault } : error;
  };

  beforeAll(async () => {
    manager = await aManager();
    text = await sealStaffKeyBackup({ ...manager, passphrase });
  }, SLOW);

  it(
    'writes format 4 under its own salt at the key file cost (3 passes over 256 MiB), and opens it with the passphrase',
    async () => {
      const file = JSON.parse(text) as FileShape;

      const opened = await openStaffKeyBackup(text, passphrase);

      expect(file.format).toBe('parley-staff-keys/4');
      expect(file.kdf).toMatchObject({ opsLimit: 3, memLimitBytes: 256 * MiB });
      expect(STAFF_KEY_FILE_KDF_PARAMS.memLimit).toBeGreaterThan(DEFAULT_KDF_PARAMS.memLimit);
      expect(opened).toMatchObject({ odsCode: manager.odsCode, login: manager.login, userId: manager.userId, device: { deviceId: manager.device.deviceId } });
      expect(opened.device.keys.signSecretKey).toEqual(manager.device.keys.signSecretKey);
      expect(opened.device.keys.boxSecretKey).toEqual(manager.device.keys.boxSecretKey);
      expect(opened.pinnedRoot).toEqual(manager.pinnedRoot);
      expect(opened.root?.signSecretKey).toEqual(manager.root.signSecretKey);
      // A second file of the same keys has another salt: no two derivations share one.
      expect((JSON.parse(await sealStaffKeyBackup({ ...manager, passphrase })) as FileShape).kdf.salt).not.toBe(file.kdf.salt);
      await expect(openStaffKeyBackup(text, 'copper meadow ladder violin orbit puzzles')).rejects.toMatchObject({ code: 'wrong_passphrase' });
    },
    SLOW,
  );

  it(
    'still opens a manager’s format 2 file (3 passes over 64 MiB), and refuses it with another passphrase',
    async () => {
      const opened = await openStaffKeyBackup(format2.file, format2.passphrase);

      expect(JSON.parse(format2.file)).toMatchObject({ format: 'parley-staff-keys/2', kdf: { opsLimit: 3, memLimitBytes: 64 * MiB } });
      expect(toBase64(opened.device.keys.signPublicKey)).toBe(format2.expected.deviceSignPublicKey);
      expect(toBase64(opened.device.keys.boxPublicKey)).toBe(format2.expected.deviceBoxPublicKey);
      expect(toBase64(opened.pinnedRoot)).toBe(format2.expected.rootSignPublicKey);
      expect(toBase64(opened.root!.signPublicKey)).toBe(format2.expected.rootSignPublicKey);
      await expect(openStaffKeyBackup(format2.file, `${format2.passphrase}!`)).rejects.toMatchObject({ code: 'wrong_passphrase' });
    },
    SLOW,
  );

  it(
    'refuses a tampered file: an edited ciphertext as a wrong passphrase, an edited salt, cost or format label as damaged',
    async () => {
      const flipped = edited((file) => {
        const blob = fromBase64(file.device);
        blob[blob.length - 1]! ^= 1;
        file.device = toBase64(blob);
      });
      const saltEdited = edited((file) => {
        const salt = fromBase64(file.kdf.salt);
        salt[0]! ^= 1;
        file.kdf.salt = toBase64(salt);
      });

      await expect(openStaffKeyBackup(flipped, passphrase)).rejects.toEqual(expect.any(AccountFlowError));
      await expect(openStaffKeyBackup(flipped, passphrase)).rejects.toMatchObject({ code: 'wrong_passphrase' });
      expect(await refusal(saltEdited)).toEqual({ code: 'invalid_payload', fault: 'damaged' });
      expect(await refusal(edited((file) => (file.kdf.opsLimit = 4)))).toEqual({ code: 'invalid_payload', fault: 'damaged' });
      // Relabelled as format 2 (whose floor is lower): the blobs' authenticated version still says format 3.
      expect(await refusal(edited((file) => (file.format = 'parley-staff-keys/2')))).toEqual({ code: 'invalid_payload', fault: 'damaged' });
      expect(await refusal(edited((file) => ([file.device, file.root] = [file.root!, file.device])))).toEqual({ code: 'invalid_payload', fault: 'damaged' });
    },
    SLOW,
  );

  it(
    'refuses a truncated file or blob as not a key file or damaged',
    async () => {
      expect(await refusal(text.slice(0, text.length / 2))).toEqual({ code: 'invalid_payload', fault: 'not_a_key_file' });
      expect(await refusal(edited((file) => (file.device = toBase64(fromBase64(file.device).slice(0, 100)))))).toEqual({
        code: 'invalid_payload',
        fault: 'damaged',
      });
      expect(await refusal(edited((file) => (file.root = file.root!.slice(0, -8))))).toEqual({ code: 'invalid_payload', fault: 'damaged' });
      expect(await refusal(edited((file) => delete (file as Partial<FileShape>).kdf))).toEqual({ code: 'invalid_payload', fault: 'not_a_key_file' });
      expect(await refusal('{"format":"parley-staff-keys/5"}')).toEqual({ code: 'invalid_payload', fault: 'not_a_key_file' });
    },
    SLOW,
  );

  it(
    'refuses, before deriving anything, a file asking for absurd memory or passes, or for less than its format’s cost',
    async () => {
      const asking = (opsLimit: number, memLimitBytes: number, format = 'parley-staff-keys/3') =>
        refusal(edited((file) => Object.assign(file, { format, kdf: { ...file.kdf, opsLimit, memLimitBytes } })));
      const outOfBounds = { code: 'invalid_payload', fault: 'kdf_out_of_bounds' };
      const started = Date.now();

      expect(await asking(3, 4 * 1024 * MiB)).toEqual(outOfBounds);
      expect(await asking(3, 513 * MiB)).toEqual(outOfBounds);
      expect(await asking(1_000_000_000, 256 * MiB)).toEqual(outOfBounds);
      expect(await asking(9, 256 * MiB)).toEqual(outOfBounds);
      expect(await asking(3.5, 256 * MiB)).toEqual(outOfBounds);
      expect(await asking(-3, 256 * MiB)).toEqual(outOfBounds);
      expect(await asking(3, 64 * MiB)).toEqual(outOfBounds);
      expect(await asking(2, 256 * MiB)).toEqual(outOfBounds);
      expect(await asking(3, 4 * 1024 * MiB, 'parley-staff-keys/2')).toEqual(outOfBounds);
      expect(await asking(1, 8 * 1024, 'parley-staff-keys/2')).toEqual(outOfBounds);
      // Nine refusals with no Argon2id run: one derivation at any of those costs would take seconds.
      expect(Date.now() - started).toBeLessThan(1_000);
    },
    SLOW,
  );

  it(
    'seals only at the key file cost or above, unless the parameters are marked test-only',
    async () => {
      await expect(sealStaffKeyBackup({ ...manager, passphrase, kdf: DEFAULT_KDF_PARAMS })).rejects.toMatchObject({
        code: 'invalid_payload',
        fault: 'kdf_out_of_bounds',
      });
      await expect(sealStaffKeyBackup({ ...manager, passphrase, kdf: { opsLimit: 3, memLimit: 1024 * MiB } })).rejects.toMatchObject({
        fault: 'kdf_out_of_bounds',
      });
    },
    SLOW,
  );

  it(
    'keeps a manager’s admin key (format 4) with or without the root, and still reads a format 3 file',
    async () => {
      const admin = { adminKeyId: '5b6f0b9e-2d3c-4a51-8e7f-90a1b2c3d4e5', keys: generatePracticeRootKey() };
      const { root: _root, ...rootOffline } = manager;
      const withAdmin = await sealStaffKeyBackup({ ...rootOffline, admin, passphrase });
      const format3 = JSON.stringify({ ...(JSON.parse(text) as FileShape), format: 'parley-staff-keys/3' });
      const adminRelabelled = JSON.stringify({ ...(JSON.parse(withAdmin) as FileShape), format: 'parley-staff-keys/3' });

      const opened = await openStaffKeyBackup(withAdmin, passphrase);

      expect(opened.root).toBeUndefined();
      expect(opened.admin?.adminKeyId).toBe(admin.adminKeyId);
      expect(opened.admin?.keys.signSecretKey).toEqual(admin.keys.signSecretKey);
      expect((await openStaffKeyBackup(format3, passphrase)).root?.signSecretKey).toEqual(manager.root.signSecretKey);
      // A format 3 file has no admin slot: one relabelled to lose its admin key's format is damaged, not silently cut down.
      expect(await refusal(adminRelabelled)).toEqual({ code: 'invalid_payload', fault: 'damaged' });
      const { adminKeyId: _id, ...adminWithoutId } = JSON.parse(withAdmin) as FileShape;
      expect(await refusal(JSON.stringify(adminWithoutId))).toEqual({ code: 'invalid_payload', fault: 'not_a_key_file' });
    },
    SLOW,
  );

  it(
    'seals the root offline under a passphrase and a second person’s code: both open it, either alone does not',
    async () => {
      const { file, secondPersonCode } = await sealOfflineRoot({ odsCode: manager.odsCode, root: manager.root, passphrase });

      const opened = await openOfflineRoot(file, passphrase, secondPersonCode.toLowerCase().replace(/-/g, ' '));

      expect(secondPersonCode).toMatch(/^[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{5}$/);
      expect(opened).toEqual({ odsCode: manager.odsCode, root: { signPublicKey: manager.root.signPublicKey, signSecretKey: manager.root.signSecretKey } });
      expect(file).not.toContain(toBase64(manager.root.signPublicKey));
      const otherCode = secondPersonCode.startsWith('0') ? `1${secondPersonCode.slice(1)}` : `0${secondPersonCode.slice(1)}`;
      await expect(openOfflineRoot(file, passphrase, otherCode)).rejects.toMatchObject({ code: 'wrong_passphrase' });
      await expect(openOfflineRoot(file, 'another long passphrase entirely', secondPersonCode)).rejects.toMatchObject({ code: 'wrong_passphrase' });
      await expect(openOfflineRoot(text, passphrase, secondPersonCode)).rejects.toMatchObject({ fault: 'not_a_key_file' });
    },
    SLOW,
  );
});
