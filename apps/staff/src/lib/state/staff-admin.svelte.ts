import { fromBase64 } from '@parley/crypto';
import type { RevokedDevice, StaffDevice, StaffMember } from '@parley/protocol';
import {
  admitStaffDevice,
  currentRoot,
  everydaySigner,
  publishRevocations,
  RevocationState,
  staffDeviceTrust,
  verifiedStaff,
  type StaffDeviceTrust,
} from '@parley/sdk';
import { contextPair } from '@parley/ui';
import { config } from '../config';
import { rotateRecordKeyHere, type StaffConnection } from '../connection';
import { explain } from '../words';

/**
 * How this browser judges a staff device: `trusted` (its root-signed certificate names the person as the
 * staff list does), `outdated` (a valid certificate naming an old name or roles: admit it again),
 * `uncertified`, `untrusted` (the certificate does not verify against the pinned root) or `revoked`.
 */
export type StaffDeviceState = StaffDeviceTrust['state'] | 'outdated';

/** A staff device as the manager's screen shows it: the server's row and this browser's own verdict on it. */
export interface StaffDeviceRow {
  device: StaffDevice;
  trust: StaffDeviceTrust;
  state: StaffDeviceState;
  /** The name and roles its certificate vouches for, when it verifies (what colleagues' screens show for its messages). */
  certifiedAs: { displayName: string; roles: string[] } | null;
}

/** Managers: staff accounts and devices, set-up codes, admission, revocation, offboarding. */
export class StaffAdminState {
  members = $state.raw<StaffMember[]>([]);
  notice = $state<string | null>(null);
  /** A staff set-up code just issued (shown once; the server keeps only its hash). */
  issuedCode = $state<{ for: string; code: string } | null>(null);
  isBusy = $state(false);
  /** Devices the server revoked that the practice's signed list does not name yet (managers; a claim, signed in only here). */
  unlisted = $state.raw<RevokedDevice[]>([]);

  constructor(private readonly connection: StaffConnection) {}

  /** Whether this browser holds a key that signs for the practice (the admin key, or the root), from the manager's key backup file. */
  get holdsSigningKey(): boolean {
    return this.connection.practiceSecrets() !== null;
  }

  /** The practice security code: the fingerprint of the root this browser pinned, for a newcomer to compare with theirs. */
  get securityCode(): string {
    return this.connection.rootFingerprint;
  }

  private get odsCode(): string {
    return this.connection.signedIn.session.practice.odsCode;
  }

  /** Each device judged here against the pinned root: the server's listing proves nothing. */
  devicesOf(member: StaffMember): StaffDeviceRow[] {
    return member.devices.map((device) => {
      const trust = staffDeviceTrust(member, device, this.odsCode, this.connection.pinnedRoot);
      const certifiedAs = device.revokedAt
        ? null
        : verifiedStaff({ ...device, userId: member.userId, deviceId: device.id }, this.odsCode, this.connection.pinnedRoot);
      // A certificate that verifies but names someone other than the staff list does is out of date, not forged.
      const state: StaffDeviceState = trust.state === 'untrusted' && certifiedAs !== null ? 'outdated' : trust.state;
      return { device, trust, state, certifiedAs: certifiedAs ? { displayName: certifiedAs.displayName, roles: [...certifiedAs.roles] } : null };
    });
  }

  async refresh(): Promise<void> {
    const [result, revocations] = await Promise.all([this.connection.api.listStaff(), this.connection.api.getRevocations()]);
    if (result.ok) this.members = result.data;
    else this.notice = explain(result.error.code);
    this.unlisted = revocations.ok ? (revocations.data.unlisted ?? []) : [];
  }

  /**
   * Signs into the practice's revocation list the devices the server revoked that it does not name yet (a patient's lost
   * phone revoked from another device, a sign-out, a recovery, a revocation made in a browser without a signing key), so
   * every client refuses them without believing the server. Each keeps the earlier of the server's time and now.
   */
  async listUnlisted(): Promise<boolean> {
    const entries = this.unlisted.map((entry) => ({ deviceId: entry.deviceId, revokedAt: Math.min(entry.revokedAt, Date.now()) }));
    if (entries.length === 0) return true;
    return this.run(
      async () => `${entries.length === 1 ? 'One device' : `${entries.length} devices`} revoked on the server: ${await this.listRevoked(entries)}`,
    );
  }

  async createStaff(input: { displayName: string; email: string; roles: ('clinician' | 'manager')[] }): Promise<boolean> {
    const result = await this.connection.api.createStaff(input);
    this.issuedCode = result.ok ? { for: input.displayName, code: result.data.code } : null;
    this.notice = result.ok ? `Account made for ${input.displayName}. Give them the set-up code in person.` : explain(result.error.code);
    if (result.ok) await this.refresh();
    return result.ok;
  }

  /**
   * Admits a colleague's device after the fingerprint check in person: certifies it with the root key,
   * naming the person and their roles as the staff list shows them (what colleagues' screens will show
   * for their messages), and grants it every record key version this browser holds that it lacks, in
   * this browser (the server sees only the certificate and sealed grants). Admitting again renews an
   * out-of-date certificate.
   */
  async admit(member: StaffMember, device: StaffDevice): Promise<boolean> {
    const secrets = this.connection.practiceSecrets();
    if (!secrets) {
      this.notice = 'This browser holds neither the practice admin key nor the root key: sign in with your key backup file to admit devices.';
      return false;
    }
    return this.run(async () => {
      await admitStaffDevice({
        baseUrl: config.gatewayUrl,
        token: this.connection.signedIn.session.token,
        // A grant is made once per version: an out-of-date device being admitted again keeps the ones it holds.
        secrets: { ...secrets, recordKeys: secrets.recordKeys.filter((key) => !device.grantedVersions.includes(key.version)) },
        granter: this.connection.signedIn.device,
        device: {
          userId: member.userId,
          deviceId: device.id,
          signPublicKey: fromBase64(device.signPublicKey),
          boxPublicKey: fromBase64(device.boxPublicKey),
          certifiedAs: { displayName: member.displayName, roles: [...member.roles] },
        },
      });
      return `${device.label} of ${member.displayName} is admitted as ${member.displayName} (${member.roles.join(' and ')}).`;
    });
  }

  /**
   * Revokes a colleague's device on the server, then adds it to the practice's signed revocation list in this browser,
   * so that clients refuse it even if the server listed it again (docs/crypto.md, "Revocation lists").
   */
  async revoke(member: StaffMember, device: StaffDevice): Promise<boolean> {
    const result = await this.connection.api.revokeStaffDevice(member.userId, device.id);
    if (!result.ok) {
      this.notice = explain(result.error.code);
      return false;
    }
    return this.run(async () => `${device.label} of ${member.displayName} is revoked; ${await this.listRevoked([device.id])}`);
  }

  /**
   * Offboards a colleague (server: account, sessions, devices, grants) and lists all their devices as revoked; the
   * rest (record key rotation, new epochs in the conversations they could read) is the checklist under their name
   * (`OffboardingState`, docs/staff-client.md "Offboarding").
   */
  async offboard(member: StaffMember): Promise<boolean> {
    const result = await this.connection.api.offboardStaff(member.userId);
    if (!result.ok) {
      this.notice = explain(result.error.code);
      return false;
    }
    const listed = member.devices.map((device) => device.id);
    return this.run(async () => `${member.displayName} is offboarded; ${await this.listRevoked(listed)} Finish the offboarding under their name.`);
  }

  /**
   * Signs and stores the next version of the practice's revocation list with the devices added (one already listed
   * keeps its first revocation time), with the admin key this browser holds or else the root. Says what was done.
   */
  private async listRevoked(devices: readonly (string | RevokedDevice)[]): Promise<string> {
    const secrets = this.connection.practiceSecrets();
    if (!secrets) return 'this browser holds no practice signing key, so the revocation list was not updated: a manager who holds one must revoke again.';
    const signer = everydaySigner(secrets);
    const api = this.connection.api;
    // The list this browser extends must be signed by the practice's authority, resolved from the root it pinned.
    const state = new RevocationState({ api, practiceOdsCode: this.odsCode, pinnedRoot: currentRoot(this.connection.pinnedRoot) });
    const revokedAt = Date.now();
    const list = await publishRevocations({
      api,
      state,
      practiceOdsCode: this.odsCode,
      add: devices.map((device) => (typeof device === 'string' ? { deviceId: device, revokedAt } : device)),
      signerSignPublicKey: signer.signPublicKey,
      signerSignSecretKey: signer.signSecretKey,
    });
    return `the practice's revocation list (version ${list.version}) names ${devices.length === 1 ? 'it' : 'them'}.`;
  }

  /**
   * Rotates the record key for an offboarding's checklist, signed by the admin key this browser holds (or the root),
   * granted to every device the practice's authority vouches for (`rotateRecordKeyHere`). @throws AccountFlowError (`forbidden` when it holds neither)
   */
  async rotateForOffboarding(): Promise<void> {
    await rotateRecordKeyHere(this.connection);
  }

  private async run(step: () => Promise<string>): Promise<boolean> {
    this.isBusy = true;
    try {
      const done = await step();
      // The notice comes after the new listing, so what it says is already on the screen.
      await this.refresh();
      this.notice = done;
      return true;
    } catch (error) {
      this.notice = explain((error as { code?: string }).code ?? 'internal');
      return false;
    } finally {
      this.isBusy = false;
    }
  }
}

export const [setStaffAdminState, getStaffAdminState] = contextPair<StaffAdminState>('staff-admin');
