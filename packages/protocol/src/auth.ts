import { z } from 'zod';
import {
  AUTH_KEY_BYTES,
  BACKUP_BLOB_BYTES,
  base64Exact,
  CertifiedStaff,
  DevicePublicKeys,
  LOOKUP_ID_BYTES,
  OdsCode,
  PublicKey,
  Role,
  SALT_BYTES,
  Signature,
  Uuid,
} from './common.js';
import type { CertifiedAdminKey, RootSuccessorLink } from './practice-authority.js';

/** Argon2id cost the client used; the server stores it with the salt and hands both back at sign-in. */
export const KdfParams = z
  .object({
    salt: base64Exact(SALT_BYTES),
    opsLimit: z.number().int().min(1).max(20),
    memLimitBytes: z
      .number()
      .int()
      .min(8 * 1024)
      .max(1024 * 1024 * 1024),
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
 * Staff send their set-up `code`; patients send the invitation's `lookupId`, derived from the code they
 * typed (the server never sees a patient's code), and their date of birth.
 */
export const ActivateRequest = z
  .object({
    practice: OdsCode,
    code: z.string().trim().min(8).max(32).optional(),
    lookupId: base64Exact(LOOKUP_ID_BYTES).optional(),
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
         * must know before it signs: the invited patient's id (from the invitation lookup) and a device id
         * the client picks (a UUIDv4). A wrong `userId` is refused like a wrong code.
         */
        userId: Uuid,
        deviceId: Uuid,
        keys: DevicePublicKeys,
        deviceCertificate: Signature,
        /** The invitation key's signature over the account key ("parley/v2/account"): how staff trust it with no manager step. */
        accountSignature: Signature,
        backup: base64Exact(BACKUP_BLOB_BYTES),
      })
      .strict()
      .optional(),
  })
  .strict()
  .refine((request) => (request.code === undefined) !== (request.lookupId === undefined), { message: 'send either code (staff) or lookupId (patients)' });
export type ActivateRequest = z.infer<typeof ActivateRequest>;

/**
 * POST /api/auth/invitation: checks an invitation before activation and names the account it opens.
 * Staff look up their set-up `code`; patients their invitation's `lookupId` (derived from the code,
 * which never leaves the patient's device) with their date of birth. Rate-limited with activation; a
 * wrong code, lookup id or date of birth answers `unauthorized`; a voided invitation `forbidden` ({@link INVITATION_VOIDED}).
 */
export const InvitationLookupRequest = z.union([
  z.object({ practice: OdsCode, code: z.string().trim().min(8).max(32) }).strict(),
  z.object({ practice: OdsCode, lookupId: base64Exact(LOOKUP_ID_BYTES), dateOfBirth: z.iso.date() }).strict(),
]);
export type InvitationLookupRequest = z.infer<typeof InvitationLookupRequest>;

/**
 * `details.reason` of the `forbidden` that invitation lookup and activation answer once a patient
 * invitation has been voided (too many wrong dates of birth): the patient asks the practice for a new one.
 */
export const INVITATION_VOIDED = 'invitation_voided';

/** A staff device as a client verifies it: its keys, its root-signed certificate and what that vouches for. */
export interface CertifiedDevice {
  userId: string;
  deviceId: string;
  signPublicKey: string;
  boxPublicKey: string;
  /** The root key's v2 staff device certificate (docs/crypto.md); null until a manager admitted the device. */
  certificate: string | null;
  certifiedAs: CertifiedStaff | null;
}

/**
 * What a staff device signed when it made a patient's invitation ("parley/v2/invitation"): the
 * invitation key (derived from the code) for this patient, until `expiresAt`. With the account key
 * signature made by that invitation key, it chains the patient's account key to the practice root.
 */
export interface InvitationChain {
  /** The invitation key V's Ed25519 public key. */
  invitationSignPublicKey: string;
  /** The creating staff device's signature over practice, patient, V and expiry. */
  invitationSignature: string;
  /** Milliseconds since 1970, as signed. */
  expiresAt: number;
  creator: CertifiedDevice;
}

/** What the invitation opens: the account, the practice, and (patients) what the client checks against the code. */
export interface InvitationDetails {
  userId: string;
  kind: 'patient' | 'staff';
  displayName: string;
  practice: { id: string; odsCode: string; name: string; rootSignPublicKey: string | null };
  /** Patients: the invitation chain, and the root key signed by the invitation key ("parley/v2/invitation-root"), which the client pins from the code itself. */
  invitation: (InvitationChain & { rootSignature: string }) | null;
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
  /** Signature by the user's account key (patients) or the practice root key (staff, v2 staff device certificate); null until certified. */
  certificate: string | null;
  /** Staff devices: the name and roles the root-signed certificate vouches for; null for patient devices and until admitted. */
  certifiedAs: CertifiedStaff | null;
  createdAt: string;
  revokedAt: string | null;
}

/**
 * PUT /api/devices/:id/certificate: a patient's device certified by their account key, or (a manager) a
 * staff device certified by the root key, with the name and roles that certificate signed.
 */
export const DeviceCertificateRequest = z.object({ certificate: Signature, certifiedAs: CertifiedStaff.optional() }).strict();

/** GET /api/keys/backup answer and PUT /api/keys/backup body. */
export const KeyBackup = z.object({ backup: base64Exact(BACKUP_BLOB_BYTES), kdf: KdfParams }).strict();
export type KeyBackup = z.infer<typeof KeyBackup>;

/**
 * POST /api/invitations (staff): a patient account and its invitation, made by the staff client (docs/crypto.md,
 * "Invitations"). The client made the code and never sends it: only the lookup id and the invitation
 * key derived from it, the caller's device's signature over that key for this patient, and the
 * invitation key's signature over the practice root key. The client picks the patient's id so it can sign it.
 */
export const CreateInvitationRequest = z
  .object({
    userId: Uuid,
    displayName: z.string().trim().min(1).max(200),
    nhsNumber: z.string().regex(/^[0-9]{10}$/),
    dateOfBirth: z.iso.date(),
    lookupId: base64Exact(LOOKUP_ID_BYTES),
    invitationSignPublicKey: PublicKey,
    invitationSignature: Signature,
    rootSignature: Signature,
    /** Milliseconds since 1970, as signed: in the future, and at most the practice's invitation validity ahead. */
    expiresAt: z.number().int().min(0),
  })
  .strict();
export type CreateInvitationRequest = z.infer<typeof CreateInvitationRequest>;

/** Answer to POST /api/invitations: the account made. The code exists only in the staff browser that made it. */
export interface InvitationCreated {
  userId: string;
  expiresAt: string;
}

/** POST /api/staff (manager): a staff account and its one-time set-up code. */
export const CreateStaffRequest = z
  .object({
    displayName: z.string().trim().min(1).max(200),
    email: z.email().max(254),
    roles: z
      .array(z.enum(['clinician', 'manager']))
      .min(1)
      .max(2),
  })
  .strict();
export type CreateStaffRequest = z.infer<typeof CreateStaffRequest>;

/** Answer to POST /api/staff: the set-up code is shown once, to be handed over in person. */
export interface CodeIssued {
  userId: string;
  code: string;
  expiresAt: string;
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
    /** The root key's statement that this version is the newest ("parley/v2/record-key-current"). */
    current: z.object({ issuedAt: z.number().int().min(0), signature: Signature }).strict(),
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
  /** The practice's current root: the first one pinned, or the last successor in `rootChain`. */
  rootSignPublicKey: string | null;
  /** Root successors, oldest first, from the first root pinned; a client follows it only from the root it pinned (issue #17). */
  rootChain: RootSuccessorLink[];
  /** Admin keys the current root certified; which are revoked is the signed revocation list's to say. */
  adminKeys: CertifiedAdminKey[];
  recordKeys: {
    version: number;
    boxPublicKey: string;
    validFrom: number;
    certificate: string;
    /** The root key's "this is the newest version" statement; clients seal only to the highest version with one. */
    current: { issuedAt: number; signature: string } | null;
  }[];
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
    granterCertifiedAs: CertifiedStaff | null;
  }[];
}

/** A patient's account key as staff and the patient's own devices check it. */
export interface PatientAccountKey {
  userId: string;
  signPublicKey: string;
  boxPublicKey: string;
  /** The invitation key's signature over this key (v2); null for an account not activated through an invitation. */
  accountSignature: string | null;
  invitation: InvitationChain | null;
  /** A root key certificate over this key (practice-assisted recovery); null otherwise. */
  certificate: string | null;
  /**
   * Account keys a practice-assisted recovery retired, each with its own chain (oldest first): the patient's
   * earlier devices are certified by one of these, and clients trust them only as past senders (docs/crypto.md, flow B).
   */
  retired?: PatientAccountKey[];
}

/**
 * GET /api/keys/account (patients): what a device being enrolled needs, beside the backup: the account
 * key's chain to check the restored key against, the patient's devices, and every envelope sealed to the
 * account key (to open the history of conversations opened on other devices).
 */
export interface AccountEnrolment {
  account: PatientAccountKey;
  devices: DeviceInfo[];
  envelopes: { conversationId: string; epoch: number; creatorDeviceId: string; recipientKeyId: string; sealedKey: string; signature: string }[];
  /** Staff devices that re-sealed old epoch keys to this account key in a practice-assisted recovery, with their root certificates. */
  resealers?: CertifiedDevice[];
}
