import { fingerprint, generatePassphrase, ready, type KdfParams } from '@parley/crypto';
import type { CertifiedStaff } from '@parley/protocol';
import { activateStaff, type DeviceIdentity } from './accounts.js';
import { createPatientInvitation, type IssuedInvitation } from './invitations.js';
import { admitStaffDevice, setUpPracticeKeys, type PracticeSecrets } from './practice-keys.js';

/** A demo member of staff as the gateway seeded them: an account waiting for its one-time set-up code. */
export interface DemoStaffCode {
  email: string;
  displayName: string;
  roles: string[];
  code: string;
}

/** The demo patient as the gateway seeded their identity: the invitation is made here, by a staff client. */
export interface DemoPatient {
  displayName: string;
  nhsNumber: string;
  dateOfBirth: string;
}

/** What the demo set-up made: sign-ins for people, and the keys the demo's stand-in clients hold. */
export interface DemoSetup {
  staff: { email: string; displayName: string; roles: string[]; passphrase: string; device: DeviceIdentity; userId: string }[];
  practice: PracticeSecrets;
  rootFingerprint: string;
  /** The demo patient's invitation (code and expiry), made by a clinician's client; null when no patient was given. */
  patientInvitation: (IssuedInvitation & { invitedBy: string }) | null;
}

/**
 * Acts as the demo practice's first manager client: activates each member of staff with a generated
 * passphrase, runs the key ceremony (root key, record key, certificates), admits every staff device
 * (certificate naming the person + record key grant), then invites the demo patient from a clinician's
 * device as a practice would. Everything secret stays with the caller; the gateway gets public keys,
 * certificates, signatures and sealed grants only.
 * @throws AccountFlowError
 */
export async function setUpDemoPractice(input: {
  baseUrl: string;
  odsCode: string;
  staff: readonly DemoStaffCode[];
  patient?: DemoPatient;
  kdf?: Readonly<KdfParams>;
}): Promise<DemoSetup> {
  await ready();
  const [managerCode, ...others] = [...input.staff].sort((a, b) => Number(b.roles.includes('manager')) - Number(a.roles.includes('manager')));
  if (!managerCode?.roles.includes('manager')) throw new Error('the demo needs a manager');
  const activate = async (member: DemoStaffCode) => {
    const passphrase = generatePassphrase();
    const signedIn = await activateStaff({
      baseUrl: input.baseUrl,
      practice: input.odsCode,
      code: member.code,
      passphrase,
      deviceLabel: 'Demo browser',
      kdf: input.kdf,
    });
    const certifiedAs: CertifiedStaff = {
      displayName: signedIn.session.user.displayName,
      roles: signedIn.session.user.roles.filter((role) => role !== 'patient'),
    };
    return {
      email: member.email,
      displayName: member.displayName,
      roles: member.roles,
      passphrase,
      device: signedIn.device,
      userId: signedIn.session.user.id,
      token: signedIn.session.token,
      certifiedAs,
    };
  };
  const manager = await activate(managerCode);
  const practice = await setUpPracticeKeys({
    baseUrl: input.baseUrl,
    token: manager.token,
    odsCode: input.odsCode,
    manager: { ...manager.device, userId: manager.userId, certifiedAs: manager.certifiedAs },
  });
  const staff = [manager];
  for (const member of others) {
    const activated = await activate(member);
    await admitStaffDevice({
      baseUrl: input.baseUrl,
      token: manager.token,
      secrets: practice,
      granter: manager.device,
      device: {
        userId: activated.userId,
        deviceId: activated.device.deviceId,
        signPublicKey: activated.device.keys.signPublicKey,
        boxPublicKey: activated.device.keys.boxPublicKey,
        certifiedAs: activated.certifiedAs,
      },
    });
    staff.push(activated);
  }
  const inviter = staff.find((member) => member.roles.includes('clinician')) ?? manager;
  const patientInvitation = input.patient
    ? {
        ...(await createPatientInvitation({
          baseUrl: input.baseUrl,
          token: inviter.token,
          practice: input.odsCode,
          device: inviter.device,
          pinnedRoot: practice.root.signPublicKey,
          // Always the real invitation cost, even in tests: the patient's browser derives with it.
          patient: input.patient,
        })),
        invitedBy: inviter.displayName,
      }
    : null;
  return {
    staff: staff.map(({ token: _token, certifiedAs: _certifiedAs, ...member }) => member),
    practice,
    rootFingerprint: fingerprint(practice.root.signPublicKey),
    patientInvitation,
  };
}
