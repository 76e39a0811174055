import {
  DEFAULT_KDF_PARAMS,
  deriveAccountKeys,
  fromBase64,
  generateDeviceKeys,
  newSalt,
  openBackup,
  readBackupHeader,
  ready,
  sealBackup,
  toBase64,
  type KdfParams,
  type SigningKeys,
} from '@parley/crypto';
import { AccountFlowError, type DeviceIdentity } from './accounts.js';
import { equal } from './trust.js';

/** The file format's name and version, checked on opening. */
export const STAFF_KEY_BACKUP_FORMAT = 'parley-staff-keys/2';

// The blobs reuse the account-key backup construction (Argon2id → backup key, XChaCha20-Poly1305, the
// user id and header as additional data), which also seals the pinned root key: a new browser pins the
// root from inside the file, never from a server answer or an editable field. The blob's own version
// field tells the two blobs apart, so a file whose blobs were swapped fails to open.
const DEVICE_BLOB_VERSION = 1;
const ROOT_BLOB_VERSION = 2;

/** What a staff key backup file restores on a new browser. */
export interface StaffKeyBackup {
  odsCode: string;
  login: string;
  userId: string;
  /** The staff device's identity (same device id: the backup moves the device, it does not add one). */
  device: DeviceIdentity;
  /** The practice root public key pinned when the file was made, sealed inside the file (never taken from a server answer). */
  pinnedRoot: Uint8Array;
  /** Managers holding the practice root key (this first version keeps it in the manager's client, see docs/crypto.md). */
  root?: SigningKeys;
}

interface StaffKeyBackupFile {
  format: typeof STAFF_KEY_BACKUP_FORMAT;
  odsCode: string;
  login: string;
  userId: string;
  deviceId: string;
  kdf: { salt: string; opsLimit: number; memLimitBytes: number };
  device: string;
  root?: string;
}

/**
 * Seals a member of staff's device keys (and, for a manager, the practice root key) under their
 * passphrase into a JSON text they keep as a file: the passphrase never leaves, and the file opens only
 * with it. `kdf` lowers the Argon2 cost for tests only.
 */
export async function sealStaffKeyBackup(input: Omit<StaffKeyBackup, 'pinnedRoot'> & { pinnedRoot: Uint8Array; passphrase: string; kdf?: Readonly<KdfParams> }): Promise<string> {
  await ready();
  const params = input.kdf ?? DEFAULT_KDF_PARAMS;
  const passphraseKeys = deriveAccountKeys(input.passphrase, newSalt(), params);
  const device = sealBackup({ userId: input.userId, backupVersion: DEVICE_BLOB_VERSION, accountKeys: input.device.keys, pinnedRoot: input.pinnedRoot, passphraseKeys });
  // The backup construction carries a box key pair too; the root key has none, so a throwaway pair fills the slot.
  const root = input.root
    ? sealBackup({ userId: input.userId, backupVersion: ROOT_BLOB_VERSION, accountKeys: { ...generateDeviceKeys(), ...input.root }, pinnedRoot: input.pinnedRoot, passphraseKeys })
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
  };
  return JSON.stringify(file, null, 2);
}

/**
 * Opens a staff key backup file with the passphrase.
 * @throws AccountFlowError `invalid_payload` (not such a file), `wrong_passphrase`
 */
export async function openStaffKeyBackup(text: string, passphrase: string): Promise<StaffKeyBackup> {
  await ready();
  const file = parseFile(text);
  let passphraseKeys;
  try {
    passphraseKeys = deriveAccountKeys(passphrase, fromBase64(file.kdf.salt), { opsLimit: file.kdf.opsLimit, memLimit: file.kdf.memLimitBytes });
  } catch {
    throw new AccountFlowError('invalid_payload', 'the key backup file names a key derivation this app refuses');
  }
  const open = (blob: string, version: number) => {
    const bytes = fromBase64(blob);
    if (readBackupHeader(bytes).backupVersion !== version) throw new AccountFlowError('invalid_payload', 'the key backup file is damaged');
    try {
      return openBackup({ blob: bytes, userId: file.userId, passphraseKeys });
    } catch {
      throw new AccountFlowError('wrong_passphrase', 'the key backup does not open with this passphrase');
    }
  };
  const device = open(file.device, DEVICE_BLOB_VERSION);
  const root = file.root ? open(file.root, ROOT_BLOB_VERSION) : undefined;
  // The root key held by a manager must be the root the file pins: anything else is a damaged or forged file.
  if (root && !equal(root.accountKeys.signPublicKey, device.pinnedRoot)) throw new AccountFlowError('invalid_payload', 'the key backup file is damaged');
  return {
    odsCode: file.odsCode,
    login: file.login,
    userId: file.userId,
    device: { deviceId: file.deviceId, keys: device.accountKeys },
    pinnedRoot: device.pinnedRoot,
    ...(root ? { root: { signPublicKey: root.accountKeys.signPublicKey, signSecretKey: root.accountKeys.signSecretKey } } : {}),
  };
}

function parseFile(text: string): StaffKeyBackupFile {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new AccountFlowError('invalid_payload', 'this is not a Parley key backup file');
  }
  const file = parsed as Partial<StaffKeyBackupFile> | null;
  const isString = (value: unknown) => typeof value === 'string' && value.length > 0;
  const isValid =
    file !== null &&
    typeof file === 'object' &&
    file.format === STAFF_KEY_BACKUP_FORMAT &&
    [file.odsCode, file.login, file.userId, file.deviceId, file.device].every(isString) &&
    (file.root === undefined || isString(file.root)) &&
    typeof file.kdf === 'object' &&
    isString(file.kdf?.salt) &&
    Number.isInteger(file.kdf?.opsLimit) &&
    Number.isInteger(file.kdf?.memLimitBytes);
  if (!isValid) throw new AccountFlowError('invalid_payload', 'this is not a Parley key backup file');
  return file as StaffKeyBackupFile;
}
