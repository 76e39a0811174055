import { HttpApi } from '@parley/client';
import {
  certifyPatientAccountKey,
  DEFAULT_KDF_PARAMS,
  deriveAccountKeys,
  deriveRecoveryKeys,
  fingerprint,
  fromBase64,
  generateInvitationCode,
  generatePatientAccountKeys,
  INVITATION_KDF_PARAMS,
  newSalt,
  ready,
  sealBackup,
  signRecovery,
  signRecoveryAccountKey,
  signRecoveryRoot,
  toBase64,
  verifyRecovery,
  verifyRecoveryAccountKey,
  verifyRecoveryRoot,
  type BoxKeys,
  type KdfParams,
  type SigningKeys,
} from '@parley/crypto';
import { RECOVERY_DAYS, type CertifiedStaff, type RecoveryHistory, type RecoverySummary, type ResealedEnvelope } from '@parley/protocol';
import { AccountFlowError, publicKeys, type DeviceIdentity } from './accounts.js';
import { openEnvelope, sealEnvelopes } from './conversation-crypto.js';
import { currentRoot, type TrustAnchor } from './authority.js';
import { equal, isAccountKeyTrusted, isCertifiedBy, verifiedStaff, type AccountPublicKeys } from './trust.js';
import { unwrap } from './unwrap.js';

// Flow B of docs/crypto.md, practice-assisted recovery after a forgotten passphrase. Every step here decides
// from keys the caller pinned: the patient's new device pins the root from the recovery code (as an invitation
// does), and staff clients re-verify the whole chain (root → starting staff device → S_rec → the new account
// key's signature by the recovery key) before they approve, re-seal a key or certify anything.

/** A recovery as the staff browser that started it shows it, once: the code exists nowhere else. */
export interface IssuedRecovery {
  recoveryId: string;
  /** The one-time code, `XXXX-XXXX-XXXXX`: give it to the patient in person or by letter; it is never sent to the server. */
  code: string;
  expiresAt: number;
  /** The practice security code (the pinned root key's fingerprint). */
  securityCode: string;
}

/**
 * Starts a recovery for a patient whose identity the caller checked: makes the code here, derives its lookup id and
 * recovery key (Argon2id, as invitations), signs the recovery key for this patient and recovery with this device
 * (S_rec) and the pinned root with the recovery key, and sends all but the code. `kdf` is for tests only.
 * @throws AccountFlowError with the gateway's code (`forbidden` for a device not admitted, `not_found`, `conflict` for a recovery open already)
 */
export async function startRecovery(input: {
  baseUrl: string;
  token: string;
  practice: string;
  device: DeviceIdentity;
  /** The pinned root, or the authority resolved from it: the recovery key signs the current root. */
  pinnedRoot: TrustAnchor;
  patientId: string;
  kdf?: Readonly<KdfParams>;
}): Promise<IssuedRecovery> {
  await ready();
  const code = generateInvitationCode();
  const recoveryId = crypto.randomUUID();
  const expiresAt = Date.now() + RECOVERY_DAYS * 24 * 3600 * 1000;
  const { lookupId, signKeys } = deriveRecoveryKeys(code, input.practice, input.kdf ?? INVITATION_KDF_PARAMS);
  const recoverySignature = signRecovery(
    { practiceId: input.practice, patientId: input.patientId, recoveryId, recoverySignPublicKey: signKeys.signPublicKey, expiresAt },
    input.device.keys.signSecretKey,
  );
  const root = currentRoot(input.pinnedRoot);
  const rootSignature = signRecoveryRoot({ practiceId: input.practice, rootSignPublicKey: root }, signKeys.signSecretKey);
  signKeys.signSecretKey.fill(0);
  unwrap(
    await new HttpApi({ baseUrl: input.baseUrl, token: input.token }).startRecovery({
      recoveryId,
      patientId: input.patientId,
      lookupId: toBase64(lookupId),
      recoverySignPublicKey: toBase64(signKeys.signPublicKey),
      recoverySignature: toBase64(recoverySignature),
      rootSignature: toBase64(rootSignature),
      expiresAt,
    }),
    'start recovery',
  );
  return { recoveryId, code, expiresAt, securityCode: fingerprint(root) };
}

/** A recovery the patient's client checked against its code; holds the recovery key's secret half until `submitRecovery`. */
export interface VerifiedRecovery {
  practice: string;
  practiceName: string;
  recoveryId: string;
  userId: string;
  displayName: string;
  pinnedRoot: Uint8Array;
  lookupId: Uint8Array;
  recoveryKeys: SigningKeys;
  expiresAt: number;
  startedBy: { displayName: string; roles: string[] };
}

/**
 * Checks a recovery code and date of birth, as `openInvitation` checks an invitation: derives the lookup id and the
 * recovery key (the code never leaves), fetches the recovery, pins the root the recovery key signed, and checks that
 * the starting staff device is certified by that root and signed this recovery key for this patient.
 * @throws AccountFlowError `invalid_payload` (not a code), `unauthorized`, `forbidden` (void), `untrusted_recovery`, `expired`, `rate_limited`, `network`
 */
export async function openRecovery(input: {
  baseUrl: string;
  practice: string;
  code: string;
  dateOfBirth: string;
  kdf?: Readonly<KdfParams>;
}): Promise<VerifiedRecovery> {
  await ready();
  const practice = input.practice.trim().toUpperCase();
  let derived;
  try {
    derived = deriveRecoveryKeys(input.code, practice, input.kdf ?? INVITATION_KDF_PARAMS);
  } catch (error) {
    const code = (error as { code?: string }).code;
    throw new AccountFlowError(code === 'weak_kdf_params' ? code : 'invalid_payload', 'that is not a recovery code');
  }
  const api = new HttpApi({ baseUrl: input.baseUrl });
  const details = unwrap(await api.lookUpRecovery({ practice, lookupId: toBase64(derived.lookupId), dateOfBirth: input.dateOfBirth }), 'recovery');
  const refuse = (why: string) => new AccountFlowError('untrusted_recovery', `the recovery does not match its code: ${why}`);
  const { chain } = details;
  if (details.practice.odsCode !== practice || !details.practice.rootSignPublicKey) throw refuse('another practice');
  const recoverySignPublicKey = derived.signKeys.signPublicKey;
  if (!equal(fromBase64(chain.recoverySignPublicKey), recoverySignPublicKey)) throw refuse('another recovery key');
  let pinnedRoot: Uint8Array;
  try {
    pinnedRoot = fromBase64(details.practice.rootSignPublicKey);
    verifyRecoveryRoot({ practiceId: practice, rootSignPublicKey: pinnedRoot }, fromBase64(chain.rootSignature), recoverySignPublicKey);
  } catch {
    throw refuse('the practice root key is not the one the code vouches for');
  }
  const startedBy = verifiedStaff(chain.creator, practice, pinnedRoot);
  if (!startedBy) throw refuse('the starting device is not certified by the practice');
  try {
    verifyRecovery(
      { practiceId: practice, patientId: details.userId, recoveryId: details.recoveryId, recoverySignPublicKey, expiresAt: chain.expiresAt },
      fromBase64(chain.recoverySignature),
      fromBase64(chain.creator.signPublicKey),
    );
  } catch {
    throw refuse('the starting device did not sign this recovery');
  }
  if (chain.expiresAt <= Date.now()) throw new AccountFlowError('expired', 'this recovery code has expired; ask the practice to start again');
  return {
    practice,
    practiceName: details.practice.name,
    recoveryId: details.recoveryId,
    userId: details.userId,
    displayName: details.displayName,
    pinnedRoot,
    lookupId: derived.lookupId,
    recoveryKeys: derived.signKeys,
    expiresAt: chain.expiresAt,
    startedBy: { displayName: startedBy.displayName, roles: [...startedBy.roles] },
  };
}

/**
 * Sends a new account key for a verified recovery: derives the auth and backup keys from the NEW passphrase (which
 * never leaves), makes the new account key, signs it with the recovery key, seals it with the pinned root in a new
 * backup, and sends public keys, the signature, the auth key and the sealed blob. The account key's and the recovery
 * key's secret halves are wiped before this returns. The patient signs in with the new passphrase once two members of
 * staff approved and a manager completed the recovery. Returns the new account key's fingerprint, for staff to compare.
 * @throws AccountFlowError with the gateway's code (`unauthorized` for a used recovery or wrong date of birth, …)
 */
export async function submitRecovery(input: {
  baseUrl: string;
  recovery: VerifiedRecovery;
  dateOfBirth: string;
  passphrase: string;
  kdf?: Readonly<KdfParams>;
}): Promise<{ recoveryId: string; accountFingerprint: string }> {
  await ready();
  const { recovery } = input;
  const params = input.kdf ?? DEFAULT_KDF_PARAMS;
  const passphraseKeys = deriveAccountKeys(input.passphrase, newSalt(), params);
  const accountKeys = generatePatientAccountKeys();
  try {
    const accountSignature = signRecoveryAccountKey(
      { practiceId: recovery.practice, patientId: recovery.userId, signPublicKey: accountKeys.signPublicKey, boxPublicKey: accountKeys.boxPublicKey },
      recovery.recoveryKeys.signSecretKey,
    );
    // backup_version 1: a new account key starts a new generation of backups.
    const backup = sealBackup({ userId: recovery.userId, backupVersion: 1, accountKeys, pinnedRoot: recovery.pinnedRoot, passphraseKeys });
    unwrap(
      await new HttpApi({ baseUrl: input.baseUrl }).submitRecovery({
        practice: recovery.practice,
        lookupId: toBase64(recovery.lookupId),
        dateOfBirth: input.dateOfBirth,
        authKey: toBase64(passphraseKeys.authKey),
        kdf: { salt: toBase64(passphraseKeys.salt), opsLimit: params.opsLimit, memLimitBytes: params.memLimit },
        account: { keys: publicKeys(accountKeys), accountSignature: toBase64(accountSignature), backup: toBase64(backup) },
      }),
      'submit recovery',
    );
    return { recoveryId: recovery.recoveryId, accountFingerprint: fingerprint(accountKeys.signPublicKey) };
  } finally {
    accountKeys.signSecretKey.fill(0);
    accountKeys.boxSecretKey.fill(0);
    // The recovery key signs the one account key it will ever sign.
    recovery.recoveryKeys.signSecretKey.fill(0);
  }
}

/** A recovery whose chain a staff client verified: who started it (as the root certified them) and the new account key. */
export interface VerifiedRecoveryRequest {
  summary: RecoverySummary;
  startedBy: CertifiedStaff;
  account: AccountPublicKeys;
  /** The new account key's fingerprint, for comparing with the one the patient's screen shows. */
  accountFingerprint: string;
}

/**
 * Checks a recovery the server lists against the pinned root: the starting device's certificate, S_rec over this
 * patient, recovery and recovery key, the recovery key's signature over the root and over the new account key.
 * Null for anything that does not verify (a key the server substituted, a recovery no member of staff started).
 */
export function verifiedRecoveryRequest(summary: RecoverySummary, practiceId: string, pinnedRoot: TrustAnchor): VerifiedRecoveryRequest | null {
  const { chain, newAccount } = summary;
  const startedBy = verifiedStaff(chain.creator, practiceId, pinnedRoot);
  if (!startedBy || !newAccount) return null;
  try {
    const recoverySignPublicKey = fromBase64(chain.recoverySignPublicKey);
    verifyRecovery(
      { practiceId, patientId: summary.patientId, recoveryId: summary.id, recoverySignPublicKey, expiresAt: chain.expiresAt },
      fromBase64(chain.recoverySignature),
      fromBase64(chain.creator.signPublicKey),
    );
    verifyRecoveryRoot({ practiceId, rootSignPublicKey: currentRoot(pinnedRoot) }, fromBase64(chain.rootSignature), recoverySignPublicKey);
    const account = { signPublicKey: fromBase64(newAccount.signPublicKey), boxPublicKey: fromBase64(newAccount.boxPublicKey) };
    verifyRecoveryAccountKey({ practiceId, patientId: summary.patientId, ...account }, fromBase64(newAccount.accountSignature), recoverySignPublicKey);
    return { summary, startedBy, account, accountFingerprint: fingerprint(account.signPublicKey) };
  } catch {
    return null;
  }
}

/** The practice's recoveries, newest first. @throws AccountFlowError */
export async function listRecoveries(input: { baseUrl: string; token: string }): Promise<RecoverySummary[]> {
  return unwrap(await new HttpApi({ baseUrl: input.baseUrl, token: input.token }).listRecoveries(), 'recoveries');
}

/**
 * Approves a recovery after re-verifying its chain here; the approval names the new account key verified, so it
 * never counts for another.
 * @throws AccountFlowError `untrusted_recovery` (the chain does not verify: nothing is sent), or the gateway's code (`conflict` with `details.reason` `already_approved` …)
 */
export async function approveRecovery(input: {
  baseUrl: string;
  token: string;
  practice: string;
  pinnedRoot: TrustAnchor;
  recovery: RecoverySummary;
}): Promise<RecoverySummary> {
  await ready();
  const verified = verifiedRecoveryRequest(input.recovery, input.practice, input.pinnedRoot);
  if (!verified) throw new AccountFlowError('untrusted_recovery', 'the new account key does not chain to the practice root through this recovery');
  return unwrap(
    await new HttpApi({ baseUrl: input.baseUrl, token: input.token }).approveRecovery(input.recovery.id, {
      accountSignPublicKey: toBase64(verified.account.signPublicKey),
    }),
    'approve recovery',
  );
}

/**
 * Completes a recovery as a manager holding the root: re-verifies the chain, opens every old epoch key of the patient
 * with the record keys (only from envelopes whose creator this client trusts: a patient device certified by one of the
 * patient's account keys that chains to the root, or for later epochs a root-certified staff device), re-seals each
 * to the new account key with this device, certifies the new account key with the root, and sends both; the server
 * swaps the credential in the same transaction. An epoch no trusted envelope opens is left out (and counted).
 * @throws AccountFlowError `untrusted_recovery`, or the gateway's code (`forbidden` with `details.reason` `second_approval_needed` …)
 */
export async function completeRecovery(input: {
  baseUrl: string;
  token: string;
  practice: string;
  pinnedRoot: TrustAnchor;
  device: DeviceIdentity;
  rootSignSecretKey: Uint8Array;
  recordKeys: ReadonlyMap<number, BoxKeys>;
  recovery: RecoverySummary;
}): Promise<{ summary: RecoverySummary; resealed: number; unopened: number }> {
  await ready();
  const verified = verifiedRecoveryRequest(input.recovery, input.practice, input.pinnedRoot);
  if (!verified) throw new AccountFlowError('untrusted_recovery', 'the new account key does not chain to the practice root through this recovery');
  const api = new HttpApi({ baseUrl: input.baseUrl, token: input.token });
  const history = unwrap(await api.recoveryHistory(input.recovery.id), 'recovery history');
  const { keys, unopened } = openOldEpochKeys(history, input.recovery.patientId, input.practice, input.pinnedRoot, input.recordKeys);
  const envelopes: ResealedEnvelope[] = [];
  for (const [id, epochKey] of keys) {
    const [conversationId = '', epochText = '0'] = id.split('/');
    const epoch = Number(epochText);
    const [sealed] = sealEnvelopes({
      conversationId,
      epoch,
      epochKey,
      targets: [{ recipient: { kind: 'account', userId: input.recovery.patientId }, boxPublicKey: verified.account.boxPublicKey }],
      creatorSignSecretKey: input.device.keys.signSecretKey,
    });
    epochKey.fill(0);
    if (sealed) envelopes.push({ conversationId, epoch, recipientKeyId: sealed.recipientKeyId, sealedKey: sealed.sealedKey, signature: sealed.signature });
  }
  const certificate = certifyPatientAccountKey({ patientId: input.recovery.patientId, ...verified.account }, input.rootSignSecretKey);
  const summary = unwrap(await api.completeRecovery(input.recovery.id, { certificate: toBase64(certificate.signature), envelopes }), 'complete recovery');
  return { summary, resealed: envelopes.length, unopened };
}

/**
 * The patient's old epoch keys, by `${conversationId}/${epoch}`, opened with the record keys. A creator counts only
 * if this client trusts it: one of the patient's devices certified by an account key of theirs that chains to the
 * pinned root (any epoch), or a root-certified staff device (epochs after the first, which only patients open).
 */
function openOldEpochKeys(
  history: RecoveryHistory,
  patientId: string,
  practiceId: string,
  pinnedRoot: TrustAnchor,
  recordKeys: ReadonlyMap<number, BoxKeys>,
): { keys: Map<string, Uint8Array>; unopened: number } {
  const trustedAccounts = history.accountKeys.filter(
    (account) => account.userId === patientId && isAccountKeyTrusted(account, practiceId, currentRoot(pinnedRoot)),
  );
  const patientDevices = new Map(history.patientDevices.map((device) => [device.id, device]));
  const staffDevices = new Map(history.staffDevices.map((device) => [device.deviceId, device]));
  const conversations = new Map(
    history.conversations.filter((conversation) => conversation.patientId === patientId).map((conversation) => [conversation.id, conversation]),
  );
  const keys = new Map<string, Uint8Array>();
  const wanted = new Set<string>();
  for (const envelope of history.envelopes) {
    const conversation = conversations.get(envelope.conversationId);
    const recordKey = recordKeys.get(envelope.recordVersion);
    if (!conversation || envelope.epoch > conversation.currentEpoch) continue;
    const id = `${envelope.conversationId}/${envelope.epoch}`;
    wanted.add(id);
    if (keys.has(id) || !recordKey) continue;
    const patientDevice = patientDevices.get(envelope.creatorDeviceId);
    const staffDevice = staffDevices.get(envelope.creatorDeviceId);
    let creatorSignPublicKey: string;
    let isTrusted: boolean;
    let isMember: boolean;
    if (patientDevice && patientDevice.userId === patientId) {
      creatorSignPublicKey = patientDevice.signPublicKey;
      isTrusted = trustedAccounts.some((account) => isCertifiedBy(patientDevice, fromBase64(account.signPublicKey)));
      isMember = true;
    } else if (staffDevice) {
      creatorSignPublicKey = staffDevice.signPublicKey;
      isTrusted = verifiedStaff(staffDevice, practiceId, pinnedRoot) !== null;
      isMember = envelope.epoch > 1;
    } else continue;
    try {
      keys.set(
        id,
        openEnvelope({
          conversationId: envelope.conversationId,
          envelope,
          recipient: recordKey,
          creator: { signPublicKey: fromBase64(creatorSignPublicKey), isTrusted, isMember },
        }),
      );
    } catch {
      // Forged, substituted or from an untrusted creator: not re-sealed, never trusted.
    }
  }
  return { keys, unopened: [...wanted].filter((id) => !keys.has(id)).length };
}
