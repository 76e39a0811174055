import {
  DEFAULT_KDF_PARAMS,
  deriveAccountKeys,
  fromBase64,
  generateDeviceKeys,
  generateInvitationCode,
  newSalt,
  normaliseInvitationCode,
  openBackup,
  readBackupHeader,
  ready,
  sealBackup,
  toBase64,
  type BackupHeader,
  type KdfParams,
  type SigningKeys,
} from '@parley/crypto';
import { AccountFlowError, type DeviceIdentity } from './accounts.js';
import type { PracticeAdminKey } from './practice-keys.js';
import { equal } from './trust.js';

/** The file format's name and version written by `sealStaffKeyBackup`; formats 2 and 3 are still read. */
export const STAFF_KEY_BACKUP_FORMAT = 'parley-staff-keys/4';

const MiB = 1024 * 1024;

/**
 * The key file's own Argon2id cost: 3 passes over 256 MiB (libsodium's "moderate" level), four times the
 * memory of the sign-in derivation (3 passes over 64 MiB), so a stolen file costs four times as much per
 * passphrase guess as the server's auth-key hash (docs/crypto.md, "Staff passphrases and the staff key file").
 */
export const STAFF_KEY_FILE_KDF_PARAMS: Readonly<KdfParams> = Object.freeze({ opsLimit: 3, memLimit: 256 * MiB });

/** The most Argon2id cost a key file may ask for: beyond it a hostile file could stall the browser or exhaust its memory. */
export const STAFF_KEY_FILE_MAX_KDF: Readonly<Pick<KdfParams, 'opsLimit' | 'memLimit'>> = Object.freeze({ opsLimit: 8, memLimit: 512 * MiB });

// The blobs reuse the account-key backup construction (Argon2id → backup key, XChaCha20-Poly1305, the
// user id and header as additional data), which also seals the pinned root key: a new browser pins the
// root from inside the file, never from a server answer or an editable field. The blob's own version
// field (authenticated) tells the two blobs and the two formats apart, so a file whose blobs were swapped,
// or whose format was relabelled, fails to open. Each file has its own random salt: its key is never the
// sign-in derivation's.
// Format 4 (issue #17) is format 3 plus an optional admin key blob (version 5) and its id, and a root blob that may be absent
// while the admin key is present (the root kept offline): a format 3 file reads as format 4 without an admin key.
const FORMATS = {
  'parley-staff-keys/2': { floor: DEFAULT_KDF_PARAMS, deviceBlob: 1, rootBlob: 2, adminBlob: null },
  'parley-staff-keys/3': { floor: STAFF_KEY_FILE_KDF_PARAMS, deviceBlob: 3, rootBlob: 4, adminBlob: null },
  'parley-staff-keys/4': { floor: STAFF_KEY_FILE_KDF_PARAMS, deviceBlob: 3, rootBlob: 4, adminBlob: 5 },
} as const;
type Format = keyof typeof FORMATS;

/** Why a file was refused before any passphrase was tried. */
export type StaffKeyBackupFault = 'not_a_key_file' | 'damaged' | 'kdf_out_of_bounds';

/** A key backup file this app will not open (code `invalid_payload`); `fault` says why. */
export class StaffKeyBackupError extends AccountFlowError {
  constructor(
    readonly fault: StaffKeyBackupFault,
    message: string,
  ) {
    super('invalid_payload', message);
    this.name = 'StaffKeyBackupError';
  }
}

/** What a staff key backup file restores on a new browser. */
export interface StaffKeyBackup {
  odsCode: string;
  login: string;
  userId: string;
  /** The staff device's identity (same device id: the backup moves the device, it does not add one). */
  device: DeviceIdentity;
  /** The practice root public key pinned when the file was made, sealed inside the file (never taken from a server answer). */
  pinnedRoot: Uint8Array;
  /** Managers holding the practice root key (until it is exported to the offline file and removed, docs/crypto.md). */
  root?: SigningKeys;
  /** Managers holding the practice admin key, which signs everyday statements (format 4). */
  admin?: PracticeAdminKey;
}

interface StaffKeyBackupFile {
  format: Format;
  odsCode: string;
  login: string;
  userId: string;
  deviceId: string;
  kdf: { salt: string; opsLimit: number; memLimitBytes: number };
  device: string;
  root?: string;
  /** Format 4: the admin key's id (public: it is listed with its certificate) and its blob. */
  adminKeyId?: string;
  admin?: string;
}

/**
 * Seals a member of staff's device keys (and, for a manager, the practice root key and admin key) under their
 * passphrase into a JSON text they keep as a file (format 4), with the key file's own salt and cost: the
 * passphrase never leaves, and the file opens only with it. `kdf` may lower the Argon2 cost for tests
 * only (`isTestOnly`); such a file never opens with `openStaffKeyBackup`.
 * @throws StaffKeyBackupError `kdf_out_of_bounds` (a cost below the key file's without `isTestOnly`, or above its maximum)
 */
export async function sealStaffKeyBackup(input: StaffKeyBackup & { passphrase: string; kdf?: Readonly<KdfParams> }): Promise<string> {
  await ready();
  const params = input.kdf ?? STAFF_KEY_FILE_KDF_PARAMS;
  if (params.isTestOnly !== true) requireFileCost(params.opsLimit, params.memLimit, STAFF_KEY_FILE_KDF_PARAMS);
  const { deviceBlob, rootBlob, adminBlob } = FORMATS[STAFF_KEY_BACKUP_FORMAT];
  const passphraseKeys = deriveAccountKeys(input.passphrase, newSalt(), params);
  const device = sealBackup({ userId: input.userId, backupVersion: deviceBlob, accountKeys: input.device.keys, pinnedRoot: input.pinnedRoot, passphraseKeys });
  // The backup construction carries a box key pair too; the root key has none, so a throwaway pair fills the slot.
  const root = input.root
    ? sealBackup({
        userId: input.userId,
        backupVersion: rootBlob,
        accountKeys: { ...generateDeviceKeys(), ...input.root },
        pinnedRoot: input.pinnedRoot,
        passphraseKeys,
      })
    : undefined;
  const admin = input.admin
    ? sealBackup({
        userId: input.userId,
        backupVersion: adminBlob,
        accountKeys: { ...generateDeviceKeys(), ...input.admin.keys },
        pinnedRoot: input.pinnedRoot,
        passphraseKeys,
      })
    : undefined;
  const file: StaffKeyBackupFile = {
    format: STAFF_KEY_BACKUP_FORMAT,
    odsCode: input.odsCode,
    login: input.login,
    userId: input.userId,
    deviceId: input.device.deviceId,
    kdf: { salt: toBase64(passphraseKeys.salt), opsLimit: params.opsLimit, memLimitBytes: params.memLimit },
    device: toBase64(device),
    ...(root ? { root: toBase64(root) } : {}),
    ...(admin && input.admin ? { adminKeyId: input.admin.adminKeyId, admin: toBase64(admin) } : {}),
  };
  return JSON.stringify(file, null, 2);
}

/**
 * Opens a staff key backup file (format 4; format 3, or format 2 made before issue #21) with the passphrase. The
 * file's cost is checked against its format's floor and the maximum before any derivation runs.
 * @throws StaffKeyBackupError (`invalid_payload`: `not_a_key_file`, `damaged`, `kdf_out_of_bounds`); AccountFlowError `wrong_passphrase`
 */
export async function openStaffKeyBackup(text: string, passphrase: string): Promise<StaffKeyBackup> {
  await ready();
  const file = parseFile(text);
  const { floor, deviceBlob, rootBlob, adminBlob } = FORMATS[file.format];
  requireFileCost(file.kdf.opsLimit, file.kdf.memLimitBytes, floor);
  if ((file.admin !== undefined || file.adminKeyId !== undefined) && adminBlob === null)
    throw new StaffKeyBackupError('damaged', 'the key backup file is damaged');
  const blobs = {
    device: readBlob(file.device, deviceBlob, file.kdf),
    root: file.root === undefined ? undefined : readBlob(file.root, rootBlob, file.kdf),
    admin: file.admin === undefined || adminBlob === null ? undefined : readBlob(file.admin, adminBlob, file.kdf),
  };
  let passphraseKeys;
  try {
    passphraseKeys = deriveAccountKeys(passphrase, blobs.device.header.salt, blobs.device.header.params);
  } catch {
    // The cost was checked above: what is left to refuse is the passphrase itself (empty, or over 1,024 characters).
    throw new AccountFlowError('wrong_passphrase', 'the key backup does not open with this passphrase');
  }
  const open = (blob: Uint8Array) => {
    try {
      return openBackup({ blob, userId: file.userId, passphraseKeys });
    } catch {
      // Authenticated decryption cannot tell a wrong passphrase from an edited blob.
      throw new AccountFlowError('wrong_passphrase', 'the key backup does not open with this passphrase');
    }
  };
  const device = open(blobs.device.bytes);
  const root = blobs.root ? open(blobs.root.bytes) : undefined;
  const admin = blobs.admin ? open(blobs.admin.bytes) : undefined;
  // The root key held by a manager must be the root the file pins: anything else is a damaged or forged file.
  if (root && !equal(root.accountKeys.signPublicKey, device.pinnedRoot)) throw new StaffKeyBackupError('damaged', 'the key backup file is damaged');
  return {
    odsCode: file.odsCode,
    login: file.login,
    userId: file.userId,
    device: { deviceId: file.deviceId, keys: device.accountKeys },
    pinnedRoot: device.pinnedRoot,
    ...(root ? { root: { signPublicKey: root.accountKeys.signPublicKey, signSecretKey: root.accountKeys.signSecretKey } } : {}),
    ...(admin && file.adminKeyId
      ? { admin: { adminKeyId: file.adminKeyId, keys: { signPublicKey: admin.accountKeys.signPublicKey, signSecretKey: admin.accountKeys.signSecretKey } } }
      : {}),
  };
}

/** A cost below the format's floor (a file never lowers the derivation cost) or above the maximum is refused. */
function requireFileCost(opsLimit: number, memLimit: number, floor: Readonly<KdfParams>): void {
  const isWithin = (value: number, min: number, max: number) => Number.isSafeInteger(value) && value >= min && value <= max;
  if (!isWithin(opsLimit, floor.opsLimit, STAFF_KEY_FILE_MAX_KDF.opsLimit) || !isWithin(memLimit, floor.memLimit, STAFF_KEY_FILE_MAX_KDF.memLimit)) {
    throw new StaffKeyBackupError(
      'kdf_out_of_bounds',
      `the key backup file asks for Argon2id ${opsLimit} passes over ${memLimit} bytes; this app accepts ${floor.opsLimit}–${STAFF_KEY_FILE_MAX_KDF.opsLimit} passes over ${floor.memLimit}–${STAFF_KEY_FILE_MAX_KDF.memLimit} bytes`,
    );
  }
}

/** A blob of the file, whole, of the expected kind, and derived with the salt and cost the file states. */
function readBlob(text: string, version: number, kdf: StaffKeyBackupFile['kdf']): { bytes: Uint8Array; header: BackupHeader } {
  let bytes: Uint8Array;
  let header: BackupHeader;
  try {
    bytes = fromBase64(text);
    header = readBackupHeader(bytes);
  } catch {
    throw new StaffKeyBackupError('damaged', 'the key backup file is damaged');
  }
  const isStated = toBase64(header.salt) === kdf.salt && header.params.opsLimit === kdf.opsLimit && header.params.memLimit === kdf.memLimitBytes;
  if (header.backupVersion !== version || !isStated) throw new StaffKeyBackupError('damaged', 'the key backup file is damaged');
  return { bytes, header };
}

function parseFile(text: string): StaffKeyBackupFile {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new StaffKeyBackupError('not_a_key_file', 'this is not a Parley key backup file');
  }
  const file = parsed as Partial<StaffKeyBackupFile> | null;
  const isString = (value: unknown) => typeof value === 'string' && value.length > 0;
  const isValid =
    file !== null &&
    typeof file === 'object' &&
    typeof file.format === 'string' &&
    Object.hasOwn(FORMATS, file.format) &&
    [file.odsCode, file.login, file.userId, file.deviceId, file.device].every(isString) &&
    (file.root === undefined || isString(file.root)) &&
    // The admin key comes with its id, or not at all.
    (file.admin === undefined) === (file.adminKeyId === undefined) &&
    (file.admin === undefined || (isString(file.admin) && isString(file.adminKeyId))) &&
    typeof file.kdf === 'object' &&
    isString(file.kdf?.salt) &&
    typeof file.kdf?.opsLimit === 'number' &&
    typeof file.kdf?.memLimitBytes === 'number';
  if (!isValid) throw new StaffKeyBackupError('not_a_key_file', 'this is not a Parley key backup file');
  return file as StaffKeyBackupFile;
}

/** The offline root file's format (docs/crypto.md, "The root off the browser"). */
export const OFFLINE_ROOT_FORMAT = 'parley-offline-root/1';
/** The root blob's version inside the offline root file, distinct from every key file blob's. */
const OFFLINE_ROOT_BLOB = 6;

interface OfflineRootFile {
  format: typeof OFFLINE_ROOT_FORMAT;
  odsCode: string;
  /** A random UUID: the blob's additional data (the construction binds a user id; this file belongs to no user). */
  fileId: string;
  kdf: { salt: string; opsLimit: number; memLimitBytes: number };
  root: string;
}

/**
 * Seals the practice root key into a file to keep offline, under two secrets held by two people: the
 * manager's passphrase and a code this function makes (13 symbols, 65 bits) to be shown once to a second
 * person, who writes it down and keeps it apart from the file. The file's key is Argon2id (the key file's
 * cost: 3 passes over 256 MiB) of both together, so neither person alone, nor whoever finds the file, can
 * open it. The caller removes the root from the browser afterwards. `kdf` may lower the cost for tests only.
 * @throws StaffKeyBackupError `kdf_out_of_bounds`
 */
export async function sealOfflineRoot(input: {
  odsCode: string;
  root: SigningKeys;
  passphrase: string;
  kdf?: Readonly<KdfParams>;
}): Promise<{ file: string; secondPersonCode: string }> {
  await ready();
  const params = input.kdf ?? STAFF_KEY_FILE_KDF_PARAMS;
  if (params.isTestOnly !== true) requireFileCost(params.opsLimit, params.memLimit, STAFF_KEY_FILE_KDF_PARAMS);
  const secondPersonCode = generateInvitationCode();
  const fileId = crypto.randomUUID();
  const passphraseKeys = deriveAccountKeys(twoPersonSecret(input.passphrase, secondPersonCode), newSalt(), params);
  const blob = sealBackup({
    userId: fileId,
    backupVersion: OFFLINE_ROOT_BLOB,
    // The backup construction carries a box key pair too; the root has none, so a throwaway pair fills the slot.
    accountKeys: { ...generateDeviceKeys(), ...input.root },
    pinnedRoot: input.root.signPublicKey,
    passphraseKeys,
  });
  const file: OfflineRootFile = {
    format: OFFLINE_ROOT_FORMAT,
    odsCode: input.odsCode,
    fileId,
    kdf: { salt: toBase64(passphraseKeys.salt), opsLimit: params.opsLimit, memLimitBytes: params.memLimit },
    root: toBase64(blob),
  };
  return { file: JSON.stringify(file, null, 2), secondPersonCode };
}

/**
 * Opens an offline root file with the manager's passphrase and the second person's code (typed in any case,
 * with or without dashes). The cost is checked before any derivation, as for key files.
 * @throws StaffKeyBackupError (`not_a_key_file`, `damaged`, `kdf_out_of_bounds`); AccountFlowError `wrong_passphrase` (either secret wrong, or an edited file)
 */
export async function openOfflineRoot(text: string, passphrase: string, secondPersonCode: string): Promise<{ odsCode: string; root: SigningKeys }> {
  await ready();
  const file = parseOfflineRootFile(text);
  requireFileCost(file.kdf.opsLimit, file.kdf.memLimitBytes, STAFF_KEY_FILE_KDF_PARAMS);
  const blob = readBlob(file.root, OFFLINE_ROOT_BLOB, file.kdf);
  let opened;
  try {
    const passphraseKeys = deriveAccountKeys(twoPersonSecret(passphrase, secondPersonCode), blob.header.salt, blob.header.params);
    opened = openBackup({ blob: blob.bytes, userId: file.fileId, passphraseKeys });
  } catch {
    // A code that is not 13 symbols, a wrong passphrase or code, and an edited blob all look the same from here.
    throw new AccountFlowError('wrong_passphrase', 'the offline root file does not open with this passphrase and code');
  }
  if (!equal(opened.accountKeys.signPublicKey, opened.pinnedRoot)) throw new StaffKeyBackupError('damaged', 'the offline root file is damaged');
  return { odsCode: file.odsCode, root: { signPublicKey: opened.accountKeys.signPublicKey, signSecretKey: opened.accountKeys.signSecretKey } };
}

/** Both people's secrets as one Argon2id input: the passphrase, a line break, and the code's 13 bare symbols. */
function twoPersonSecret(passphrase: string, secondPersonCode: string): string {
  return `${passphrase}\n${normaliseInvitationCode(secondPersonCode)}`;
}

function parseOfflineRootFile(text: string): OfflineRootFile {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new StaffKeyBackupError('not_a_key_file', 'this is not a Parley offline root file');
  }
  const file = parsed as Partial<OfflineRootFile> | null;
  const isString = (value: unknown) => typeof value === 'string' && value.length > 0;
  const isValid =
    file !== null &&
    typeof file === 'object' &&
    file.format === OFFLINE_ROOT_FORMAT &&
    [file.odsCode, file.fileId, file.root].every(isString) &&
    typeof file.kdf === 'object' &&
    isString(file.kdf?.salt) &&
    typeof file.kdf?.opsLimit === 'number' &&
    typeof file.kdf?.memLimitBytes === 'number';
  if (!isValid) throw new StaffKeyBackupError('not_a_key_file', 'this is not a Parley offline root file');
  return file as OfflineRootFile;
}
