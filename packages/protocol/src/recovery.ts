import { z } from 'zod';
import type { CertifiedDevice, DeviceInfo, PatientAccountKey } from './auth.js';
import { KdfParams } from './auth.js';
import {
  AUTH_KEY_BYTES,
  BACKUP_BLOB_BYTES,
  base64Exact,
  DevicePublicKeys,
  KEY_ID_BYTES,
  LOOKUP_ID_BYTES,
  OdsCode,
  PublicKey,
  SEALED_KEY_BYTES,
  Signature,
  Uuid,
} from './common.js';

// Practice-assisted recovery after a forgotten passphrase (flow B, docs/crypto.md): a member of staff starts it
// with a code their browser made (like an invitation's), the patient's new device sends a new account key signed
// with the code's key, two members of staff (two accounts) approve, and a manager's client re-seals the old epoch
// keys to the new account key and certifies it with the root; the server then swaps the credential.

/** How long a recovery code can be used: it is handed over in person or by letter. */
export const RECOVERY_DAYS = 7;
/** The most re-sealed envelopes one completion may carry (one per conversation epoch of the patient). */
export const MAX_RECOVERY_ENVELOPES = 2_000;

/** Where a recovery is: waiting for the patient's new key, waiting for approvals, done, or void (expired, or too many wrong dates of birth). */
export const RECOVERY_STATES = ['started', 'submitted', 'completed', 'voided'] as const;
export type RecoveryState = (typeof RECOVERY_STATES)[number];

/** POST /api/recoveries (staff, admitted device): a recovery the caller's browser made the code for; the code never leaves it. */
export const StartRecoveryRequest = z
  .object({
    recoveryId: Uuid,
    patientId: Uuid,
    lookupId: base64Exact(LOOKUP_ID_BYTES),
    recoverySignPublicKey: PublicKey,
    /** S_rec: the starting device's signature over practice, patient, recovery id, the recovery key and expiry ("parley/v2/recovery"). */
    recoverySignature: Signature,
    /** The root key signed by the recovery key ("parley/v2/recovery-root"): the patient's new device pins the root from the code. */
    rootSignature: Signature,
    /** Milliseconds since 1970, as signed. */
    expiresAt: z.number().int().min(0),
  })
  .strict();
export type StartRecoveryRequest = z.infer<typeof StartRecoveryRequest>;

/** POST /api/auth/recovery (no session): the patient's device finds its recovery by the lookup id its code derives, with the date of birth. */
export const RecoveryLookupRequest = z.object({ practice: OdsCode, lookupId: base64Exact(LOOKUP_ID_BYTES), dateOfBirth: z.iso.date() }).strict();
export type RecoveryLookupRequest = z.infer<typeof RecoveryLookupRequest>;

/** What a staff device signed when it started a recovery, and the root key the recovery key signed. */
export interface RecoveryChain {
  recoverySignPublicKey: string;
  recoverySignature: string;
  rootSignature: string;
  /** Milliseconds since 1970, as signed. */
  expiresAt: number;
  creator: CertifiedDevice;
}

/** Answer to the recovery lookup: whose account it recovers, and the chain the patient's client checks against its code. */
export interface RecoveryDetails {
  recoveryId: string;
  userId: string;
  displayName: string;
  practice: { id: string; odsCode: string; name: string; rootSignPublicKey: string | null };
  chain: RecoveryChain;
}

/**
 * POST /api/auth/recovery/submit (no session): the patient's new account key signed by the recovery key
 * ("parley/v2/recovery-account"), the new passphrase's auth key and salt, and the new backup. Nothing changes
 * for the account until two members of staff approved and a manager completed the recovery.
 */
export const SubmitRecoveryRequest = z
  .object({
    practice: OdsCode,
    lookupId: base64Exact(LOOKUP_ID_BYTES),
    dateOfBirth: z.iso.date(),
    authKey: base64Exact(AUTH_KEY_BYTES),
    kdf: KdfParams,
    account: z.object({ keys: DevicePublicKeys, accountSignature: Signature, backup: base64Exact(BACKUP_BLOB_BYTES) }).strict(),
  })
  .strict();
export type SubmitRecoveryRequest = z.infer<typeof SubmitRecoveryRequest>;

/** One member of staff's approval: who, from which device, when. */
export interface RecoveryApproval {
  userId: string;
  deviceId: string;
  approvedAt: string;
}

/** A recovery as staff see it (GET /api/recoveries, and the answer to every staff route). */
export interface RecoverySummary {
  id: string;
  patientId: string;
  patientName: string;
  state: RecoveryState;
  startedBy: string;
  startedAt: string;
  expiresAt: string;
  chain: RecoveryChain;
  /** The patient's new account key and its signature by the recovery key, once submitted. */
  newAccount: { signPublicKey: string; boxPublicKey: string; accountSignature: string } | null;
  approvals: RecoveryApproval[];
  completedBy: string | null;
  completedAt: string | null;
}

/** POST /api/recoveries/:id/approvals (staff, admitted device): the new account key the approver's client verified. */
export const ApproveRecoveryRequest = z.object({ accountSignPublicKey: PublicKey }).strict();
export type ApproveRecoveryRequest = z.infer<typeof ApproveRecoveryRequest>;

/** An epoch key sealed to a record key, as the completing manager's client opens it. */
export interface RecoveryRecordEnvelope {
  conversationId: string;
  epoch: number;
  recordVersion: number;
  creatorDeviceId: string;
  recipientKeyId: string;
  sealedKey: string;
  signature: string;
}

/**
 * GET /api/recoveries/:id/history (manager): what the completing client needs to open the patient's old epoch
 * keys with the record keys and check who made each: the record-key envelopes of the patient's conversations,
 * their creators (the patient's devices, revoked ones too, and staff devices) and the patient's account keys
 * (the current one and any retired by an earlier recovery), each with its chain.
 */
export interface RecoveryHistory {
  conversations: { id: string; patientId: string; practiceOdsCode: string; currentEpoch: number }[];
  envelopes: RecoveryRecordEnvelope[];
  patientDevices: DeviceInfo[];
  staffDevices: CertifiedDevice[];
  accountKeys: PatientAccountKey[];
}

/** An old epoch key re-sealed to the new account key by the completing manager's device. */
export const ResealedEnvelope = z
  .object({
    conversationId: Uuid,
    epoch: z.number().int().min(1),
    recipientKeyId: base64Exact(KEY_ID_BYTES),
    sealedKey: base64Exact(SEALED_KEY_BYTES),
    signature: Signature,
  })
  .strict();
export type ResealedEnvelope = z.infer<typeof ResealedEnvelope>;

/**
 * POST /api/recoveries/:id/complete (manager, after two approvals by two accounts): the root's certificate over
 * the new account key ("parley/v1/pak") and the old epoch keys re-sealed to it. Stored with the credential swap,
 * in one transaction.
 */
export const CompleteRecoveryRequest = z.object({ certificate: Signature, envelopes: z.array(ResealedEnvelope).max(MAX_RECOVERY_ENVELOPES) }).strict();
export type CompleteRecoveryRequest = z.infer<typeof CompleteRecoveryRequest>;

/** `details.reason` of the `forbidden` a completion gets while fewer than two members of staff approved. */
export const SECOND_APPROVAL_NEEDED = 'second_approval_needed';
/** `details.reason` of the `conflict` an approval gets from a member of staff who approved already. */
export const ALREADY_APPROVED = 'already_approved';
