import { fingerprint, generatePassphrase, ready, type KdfParams } from '@parley/crypto';
import { activateStaff, type DeviceIdentity } from './accounts.js';
import { admitStaffDevice, setUpPracticeKeys, type PracticeSecrets } from './practice-keys.js';

/** A demo member of staff as the gateway seeded them: an account waiting for its one-time set-up code. */
export interface DemoStaffCode {
  email: string;
  displayName: string;
  roles: string[];
  code: string;
}

/** What the demo set-up made: sign-ins for people, and the keys the demo's stand-in clients hold. */
export interface DemoSetup {
  staff: { email: string; displayName: string; roles: string[]; passphrase: string; device: DeviceIdentity; userId: string }[];
  practice: PracticeSecrets;
  rootFingerprint: string;
}

/**
 * Acts as the demo practice's first manager client: activates each member of staff with a generated
 * passphrase, runs the key ceremony (root key, record key, certificates), and admits every staff
 * device (certificate + record key grant). Everything secret stays with the caller; the gateway gets
 * public keys, certificates and sealed grants only.
 * @throws AccountFlowError
 */
export async function setUpDemoPractice(input: { baseUrl: string; odsCode: string; staff: readonly DemoStaffCode[]; kdf?: Readonly<KdfParams> }): Promise<DemoSetup> {
  await ready();
  const [managerCode, ...others] = [...input.staff].sort((a, b) => Number(b.roles.includes('manager')) - Number(a.roles.includes('manager')));
  if (!managerCode?.roles.includes('manager')) throw new Error('the demo needs a manager');
  const activate = async (member: DemoStaffCode) => {
    const passphrase = generatePassphrase();
    const signedIn = await activateStaff({ baseUrl: input.baseUrl, practice: input.odsCode, code: member.code, passphrase, deviceLabel: 'Demo browser', kdf: input.kdf });
    return { email: member.email, displayName: member.displayName, roles: member.roles, passphrase, device: signedIn.device, userId: signedIn.session.user.id, token: signedIn.session.token };
  };
  const manager = await activate(managerCode);
  const practice = await setUpPracticeKeys({ baseUrl: input.baseUrl, token: manager.token, odsCode: input.odsCode, manager: { ...manager.device, userId: manager.userId } });
  const staff = [manager];
  for (const member of others) {
    const activated = await activate(member);
    await admitStaffDevice({
      baseUrl: input.baseUrl,
      token: manager.token,
      secrets: practice,
      granter: manager.device,
      device: { userId: activated.userId, deviceId: activated.device.deviceId, signPublicKey: activated.device.keys.signPublicKey, boxPublicKey: activated.device.keys.boxPublicKey },
    });
    staff.push(activated);
  }
  return {
    staff: staff.map(({ token: _token, ...member }) => member),
    practice,
    rootFingerprint: fingerprint(practice.root.signPublicKey),
  };
}
