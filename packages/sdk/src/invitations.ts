import { HttpApi } from '@parley/client';
import {
  deriveInvitationKeys,
  fingerprint,
  generateInvitationCode,
  INVITATION_KDF_PARAMS,
  ready,
  signInvitation,
  signInvitationRoot,
  toBase64,
  type KdfParams,
} from '@parley/crypto';
import type { DeviceIdentity } from './accounts.js';
import { unwrap } from './unwrap.js';

/** How long a patient's invitation can be used: long enough for a letter to arrive (the gateway refuses longer). */
export const INVITATION_DAYS = 30;

/**
 * The invitation link a practice hands out: the patient app's URL with the practice and the code in the
 * fragment (`#practice=…&code=…`), which browsers never send to a server. The patient app reads it once.
 */
export function invitationLink(patientAppUrl: string, practice: string, code: string): string {
  return `${patientAppUrl}#${new URLSearchParams({ practice, code })}`;
}

/** An invitation as the staff browser that made it shows it, once: the code exists nowhere else. */
export interface IssuedInvitation {
  userId: string;
  /** The one-time code, `XXXX-XXXX-XXXXX` (65 bits): print it on the letter or read it out; it is never sent to the server. */
  code: string;
  expiresAt: number;
  /** The practice security code (the pinned root key's fingerprint), for a patient who wants to compare. */
  securityCode: string;
}

/**
 * Invites a patient from a staff device the practice admitted (docs/crypto.md, "Invitations"): makes
 * the code here, derives from it (Argon2id) the lookup id the server keeps and the invitation key,
 * signs that key for this patient with this device, and signs the pinned root key with the invitation
 * key, so the patient's client pins the root from the code alone. The server gets neither the code nor
 * anything that would let it sign in the invitation's name. `kdf` is for tests only.
 * @throws AccountFlowError with the gateway's code (`forbidden` for a device not yet admitted, `conflict` for a registered NHS number …)
 */
export async function createPatientInvitation(input: {
  baseUrl: string;
  token: string;
  practice: string;
  device: DeviceIdentity;
  pinnedRoot: Uint8Array;
  patient: { displayName: string; nhsNumber: string; dateOfBirth: string };
  kdf?: Readonly<KdfParams>;
}): Promise<IssuedInvitation> {
  await ready();
  const code = generateInvitationCode();
  const userId = crypto.randomUUID();
  const expiresAt = Date.now() + INVITATION_DAYS * 24 * 3600 * 1000;
  const { lookupId, signKeys } = deriveInvitationKeys(code, input.practice, input.kdf ?? INVITATION_KDF_PARAMS);
  const invitationSignature = signInvitation(
    { practiceId: input.practice, patientId: userId, invitationSignPublicKey: signKeys.signPublicKey, expiresAt },
    input.device.keys.signSecretKey,
  );
  const rootSignature = signInvitationRoot({ practiceId: input.practice, rootSignPublicKey: input.pinnedRoot }, signKeys.signSecretKey);
  signKeys.signSecretKey.fill(0);
  unwrap(
    await new HttpApi({ baseUrl: input.baseUrl, token: input.token }).createInvitation({
      userId,
      ...input.patient,
      lookupId: toBase64(lookupId),
      invitationSignPublicKey: toBase64(signKeys.signPublicKey),
      invitationSignature: toBase64(invitationSignature),
      rootSignature: toBase64(rootSignature),
      expiresAt,
    }),
    'create invitation',
  );
  return { userId, code, expiresAt, securityCode: fingerprint(input.pinnedRoot) };
}
