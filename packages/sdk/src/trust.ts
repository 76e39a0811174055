import { fromBase64, verifyDeviceCertificate, verifyPatientAccountKeyCertificate } from '@parley/crypto';
import type { JoinedConversation, MemberDevice } from '@parley/protocol';

/**
 * Whether a member device chains to the pinned practice root key: a staff device by its root-signed
 * certificate; a patient device by its certificate from the patient account key, which the practice
 * certified (or which is the caller's own account key). The server's listing alone proves nothing.
 */
export function isDeviceTrusted(
  device: MemberDevice,
  joined: Pick<JoinedConversation, 'patientAccount'>,
  pinnedRoot: Uint8Array,
  ownAccountSignPublicKey?: Uint8Array,
): boolean {
  if (!device.certificate) return false;
  const fields = {
    userId: device.userId,
    deviceId: device.id,
    signPublicKey: fromBase64(device.signPublicKey),
    boxPublicKey: fromBase64(device.boxPublicKey),
    signature: fromBase64(device.certificate),
  };
  try {
    if (device.role !== 'patient') {
      verifyDeviceCertificate(fields, pinnedRoot);
      return true;
    }
    const account = joined.patientAccount;
    if (!account || account.userId !== device.userId) return false;
    const accountSignPublicKey = fromBase64(account.signPublicKey);
    const isOwnAccount = ownAccountSignPublicKey !== undefined && equal(ownAccountSignPublicKey, accountSignPublicKey);
    if (!isOwnAccount) {
      if (!account.certificate) return false;
      verifyPatientAccountKeyCertificate(
        { patientId: account.userId, signPublicKey: accountSignPublicKey, boxPublicKey: fromBase64(account.boxPublicKey), signature: fromBase64(account.certificate) },
        pinnedRoot,
      );
    }
    verifyDeviceCertificate(fields, accountSignPublicKey);
    return true;
  } catch {
    return false;
  }
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, index) => byte === b[index]);
}
