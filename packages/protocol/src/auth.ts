import { z } from 'zod';
import {
  AUTH_KEY_BYTES,
  BACKUP_BLOB_BYTES,
  base64Exact,
  DevicePublicKeys,
  OdsCode,
  PublicKey,
  Role,
  SALT_BYTES,
  Signature,
  Uuid,
} from './common.js';

/** Argon2id cost the client used; the server stores it with the salt and hands both back at sign-in. */
export const KdfParams = z
  .object({
    salt: base64Exact(SALT_BYTES),
    opsLimit: z.number().int().min(1).max(20),
    memLimitBytes: z.number().int().min(8 * 1024).max(1024 * 1024 * 1024),
  })
  .strict();
export type KdfParams = z.infer<typeof KdfParams>;

/** A staff e-mail or a patient's 10-digit NHS number. */
export const Login = z.union([z.email().max(254), z.string().regex(/^[0-9]{10}$/)]);

/** POST /api/auth/prelogin: the salt and cost to derive the auth key with. Unknown logins get a stable decoy. */
export const PreloginRequest = z.object({ practice: OdsCode, login: Login }).strict();
export type PreloginRequest = z.infer<typeof PreloginRequest>;
export type PreloginResponse = KdfParams;

/** A new device's label and public keys. */
export const NewDevice = z.object({ label: z.string().trim().min(1).max(100), keys: DevicePublicKeys }).strict();
export type NewDevice = z.infer<typeof NewDevice>;

/**
 * POST /api/auth/activate: turns an invitation (patient) or set-up code (staff) into an account.
 * The client derived `authKey` and the backup key from the passphrase; the passphrase never leaves it.
 */
export const ActivateRequest = z
  .object({
    practice: OdsCode,
    code: z.string().trim().min(8).max(32),
    /** Patients confirm their date of birth (YYYY-MM-DD); staff omit it. */
    dateOfBirth: z.iso.date().optional(),
    authKey: base64Exact(AUTH_KEY_BYTES),
    kdf: KdfParams,
    device: NewDevice,
    /** Patients only: the patient account key (PAK) public keys, the device certificate it signed, and the encrypted backup of it. */
    account: z
      .object({
        /**
         * The ids the device certificate and the backup's additional data are bound to, which the client
         * must know before it signs: the invited patient's id (`CodeIssued.userId`, carried with the
         * code) and a device id the client picks (a UUIDv4). A wrong `userId` is refused like a wrong code.
         */
        userId: Uuid,
        deviceId: Uuid,
        keys: DevicePublicKeys,
        deviceCertificate: Signature,
        backup: base64Exact(BACKUP_BLOB_BYTES),
      })
      .strict()
      .optional(),
  })
  .strict();
export type ActivateRequest = z.infer<typeof ActivateRequest>;

/**
 * POST /api/auth/invitation: checks a code (and a patient's date of birth) before activation and
 * names the account it opens, whose id the client binds into its certificate and backup. Rate-limited
 * with activation; a wrong code or date of birth answers `unauthorized`.
 */
export const InvitationLookupRequest = z
  .object({ practice: OdsCode, code: z.string().trim().min(8).max(32), dateOfBirth: z.iso.date().optional() })
  .strict();
export type InvitationLookupRequest = z.infer<typeof InvitationLookupRequest>;

/** What the invitation opens: the account, and the practice with the root key the client pins. */
export interface InvitationDetails {
  userId: string;
  kind: 'patient' | 'staff';
  displayName: string;
  practice: { id: string; odsCode: string; name: string; rootSignPublicKey: string | null };
}

/** POST /api/auth/sign-in: with an existing device of this user, or registering a new one. */
export const SignInRequest = z
  .object({
    practice: OdsCode,
    login: Login,
    authKey: base64Exact(AUTH_KEY_BYTES),
    device: z.union([z.object({ deviceId: Uuid }).strict(), NewDevice]),
  })
  .strict();
export type SignInRequest = z.infer<typeof SignInRequest>;

/** What a successful activation or sign-in returns. The token goes in the socket handshake's `auth.token` and in `Authorization: Bearer`. */
export interface SessionInfo {
  token: string;
  expiresAt: string;
  deviceId: string;
  user: { id: string; roles: Role[]; displayName: string };
  practice: { id: string; odsCode: string; name: string; rootSignPublicKey: string | null };
}

/** A device as listed to its owner or to conversation members. */
export interface DeviceInfo {
  id: string;
  userId: string;
  label: string;
  signPublicKey: string;
  boxPublicKey: string;
  /** Signature by the user's account key (patients) or a manager's device (staff); null until certified. */
  certificate: string | null;
  createdAt: string;
  revokedAt: string | null;
}

/** PUT /api/devices/:id/certificate */
export const DeviceCertificateRequest = z.object({ certificate: Signature }).strict();

/** GET /api/keys/backup answer and PUT /api/keys/backup body. */
export const KeyBackup = z.object({ backup: base64Exact(BACKUP_BLOB_BYTES), kdf: KdfParams }).strict();
export type KeyBackup = z.infer<typeof KeyBackup>;

/** POST /api/invitations (staff): a patient account and its one-time activation code. */
export const CreateInvitationRequest = z
  .object({
    displayName: z.string().trim().min(1).max(200),
    nhsNumber: z.string().regex(/^[0-9]{10}$/),
    dateOfBirth: z.iso.date(),
  })
  .strict();
export type CreateInvitationRequest = z.infer<typeof CreateInvitationRequest>;

/** POST /api/staff (manager): a staff account and its one-time set-up code. */
export const CreateStaffRequest = z
  .object({
    displayName: z.string().trim().min(1).max(200),
    email: z.email().max(254),
    roles: z.array(z.enum(['clinician', 'manager'])).min(1).max(2),
  })
  .strict();
export type CreateStaffRequest = z.infer<typeof CreateStaffRequest>;

/** Answer to both: the code is shown once, to be handed over in person or by letter. */
export interface CodeIssued {
  userId: string;
  code: string;
  expiresAt: string;
  /** Fingerprint source the invitation letter prints: the practice root public key (base64), null until set up. */
  practiceRootSignPublicKey: string | null;
}

/** PUT /api/practice/root-key (manager, once): pins the practice root signing key. */
export const SetRootKeyRequest = z.object({ rootSignPublicKey: PublicKey }).strict();

/** POST /api/practice/record-keys (manager): a new record key version, certified by the root key. */
export const AddRecordKeyRequest = z
  .object({
    version: z.number().int().min(1).max(1_000_000),
    boxPublicKey: PublicKey,
    validFrom: z.number().int().min(0),
    certificate: Signature,
  })
  .strict();
export type AddRecordKeyRequest = z.infer<typeof AddRecordKeyRequest>;

/** POST /api/practice/record-key-grants (manager): a record key version sealed to one staff device. */
export const AddRecordKeyGrantRequest = z
  .object({
    version: z.number().int().min(1),
    deviceId: Uuid,
    sealedSeed: base64Exact(80),
    signature: Signature,
  })
  .strict();
export type AddRecordKeyGrantRequest = z.infer<typeof AddRecordKeyGrantRequest>;

/** PUT /api/users/:id/account-key-certificate (manager): the practice's signature over a patient's account key. */
export const AccountKeyCertificateRequest = z.object({ certificate: Signature }).strict();

/** GET /api/practice/keys: what a client needs to trust and use the practice's keys. */
export interface PracticeKeys {
  practiceId: string;
  odsCode: string;
  rootSignPublicKey: string | null;
  recordKeys: { version: number; boxPublicKey: string; validFrom: number; certificate: string }[];
  /** Grants sealed to the caller's device (staff only). */
  grants: {
    version: number;
    sealedSeed: string;
    signature: string;
    grantedByDeviceId: string;
    /** The granting (manager's) device: its keys and root-signed certificate, to verify the grant with. */
    granterUserId: string;
    granterSignPublicKey: string;
    granterBoxPublicKey: string;
    granterCertificate: string | null;
  }[];
}
