import { HttpApi } from '@parley/client';
import { CryptoError, deriveAccountKeys, fromBase64, openBackup, readBackupHeader, ready } from '@parley/crypto';
import { AccountFlowError } from './accounts.js';

/**
 * Checks a signed-in patient's passphrase against their own encrypted key backup, without a new
 * sign-in (the patient app's privacy lock): downloads the blob, derives the backup key with the
 * blob's own salt and cost, and tries to open it. Resolves false for a wrong passphrase; the
 * passphrase never leaves the device. Downloads are rate-limited and audited by the gateway.
 * @throws AccountFlowError with the gateway's code (`unauthorized`, `rate_limited`, `network` …)
 */
export async function verifyPatientPassphrase(input: { baseUrl: string; token: string; userId: string; passphrase: string }): Promise<boolean> {
  await ready();
  const backup = await new HttpApi({ baseUrl: input.baseUrl, token: input.token }).getBackup();
  if (!backup.ok) throw AccountFlowError.of(backup.error, 'download backup');
  const blob = fromBase64(backup.data.backup);
  const header = readBackupHeader(blob);
  const passphraseKeys = deriveAccountKeys(input.passphrase, header.salt, header.params);
  try {
    openBackup({ blob, userId: input.userId, passphraseKeys });
    return true;
  } catch (error) {
    if (error instanceof CryptoError) return false;
    throw error;
  }
}
