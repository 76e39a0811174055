import { fromBase64 } from '@parley/crypto';
import type { StaffDevice, StaffMember } from '@parley/protocol';
import { admitStaffDevice, certifyPatientAccount, rotateRecordKey, staffDeviceTrust, type StaffDeviceTrust } from '@parley/sdk';
import { getContext, setContext } from 'svelte';
import { config } from '../config';
import type { StaffConnection } from '../connection';
import { explain } from '../words';

/** A staff device as the manager's screen shows it: the server's row and this browser's own verdict on it. */
export interface StaffDeviceRow {
  device: StaffDevice;
  trust: StaffDeviceTrust;
}

/** Managers: staff accounts and devices, set-up codes and patient invitations, admission, revocation, offboarding. */
export class StaffAdminState {
  members = $state.raw<StaffMember[]>([]);
  notice = $state<string | null>(null);
  /** A one-time code just issued (shown once; the server keeps only its hash). */
  /** A one-time code just issued; a patient invitation also carries the practice security code (the root key fingerprint this browser pinned). */
  issuedCode = $state<{ for: string; code: string; securityCode?: string } | null>(null);
  isBusy = $state(false);

  constructor(private readonly connection: StaffConnection) {}

  /** Whether this browser holds the practice root key (from the manager's key backup file). */
  get holdsRootKey(): boolean {
    return this.connection.root !== undefined;
  }

  /** Each device judged here against the pinned root: the server's listing proves nothing. */
  devicesOf(member: StaffMember): StaffDeviceRow[] {
    return member.devices.map((device) => ({ device, trust: staffDeviceTrust(member, device, this.connection.pinnedRoot) }));
  }

  async refresh(): Promise<void> {
    const result = await this.connection.api.listStaff();
    if (result.ok) this.members = result.data;
    else this.notice = explain(result.error.code);
  }

  async createStaff(input: { displayName: string; email: string; roles: ('clinician' | 'manager')[] }): Promise<boolean> {
    const result = await this.connection.api.createStaff(input);
    this.issuedCode = result.ok ? { for: input.displayName, code: result.data.code } : null;
    this.notice = result.ok ? `Account made for ${input.displayName}. Give them the set-up code in person.` : explain(result.error.code);
    if (result.ok) await this.refresh();
    return result.ok;
  }

  async invitePatient(input: { displayName: string; nhsNumber: string; dateOfBirth: string }): Promise<boolean> {
    const result = await this.connection.api.createInvitation(input);
    this.issuedCode = result.ok ? { for: input.displayName, code: result.data.code, securityCode: this.connection.rootFingerprint } : null;
    this.notice = result.ok ? `Invitation made for ${input.displayName}. Send the activation code with the practice security code.` : explain(result.error.code);
    return result.ok;
  }

  /**
   * Admits a colleague's device after the fingerprint check in person: certifies it with the root key
   * and grants it every record key version this browser holds, in this browser (the server sees
   * only the certificate and sealed grants).
   */
  async admit(member: StaffMember, device: StaffDevice): Promise<boolean> {
    const secrets = this.connection.practiceSecrets();
    if (!secrets) {
      this.notice = 'This browser does not hold the practice root key: sign in with your key backup file to admit devices.';
      return false;
    }
    return this.run(async () => {
      await admitStaffDevice({
        baseUrl: config.gatewayUrl,
        token: this.connection.signedIn.session.token,
        secrets,
        granter: this.connection.signedIn.device,
        device: { userId: member.userId, deviceId: device.id, signPublicKey: fromBase64(device.signPublicKey), boxPublicKey: fromBase64(device.boxPublicKey) },
      });
      return `${device.label} of ${member.displayName} is admitted.`;
    });
  }

  async revoke(member: StaffMember, device: StaffDevice): Promise<boolean> {
    const result = await this.connection.api.revokeStaffDevice(member.userId, device.id);
    this.notice = result.ok ? `${device.label} of ${member.displayName} is revoked.` : explain(result.error.code);
    if (result.ok) await this.refresh();
    return result.ok;
  }

  /** Offboards a colleague (server: account, sessions, devices, grants) then rotates the record key in this browser. */
  async offboard(member: StaffMember): Promise<boolean> {
    const result = await this.connection.api.offboardStaff(member.userId);
    if (!result.ok) {
      this.notice = explain(result.error.code);
      return false;
    }
    const root = this.connection.root;
    if (!root) {
      this.notice = `${member.displayName} is offboarded. The record key still needs rotating: sign in with the key backup file that holds the root key.`;
      await this.refresh();
      return true;
    }
    return this.run(async () => {
      const rotation = await rotateRecordKey({
        baseUrl: config.gatewayUrl,
        token: this.connection.signedIn.session.token,
        odsCode: this.connection.signedIn.session.practice.odsCode,
        root,
        granter: this.connection.signedIn.device,
      });
      this.connection.addRecordKey(rotation.recordKey);
      return `${member.displayName} is offboarded; record key version ${rotation.recordKey.version} was made and granted to ${rotation.grantedDeviceIds.length} devices.`;
    });
  }

  /** Vouches for a patient's account key (after the identity check), so staff clients trust their devices. */
  async certifyPatient(patient: { userId: string; signPublicKey: string; boxPublicKey: string }): Promise<boolean> {
    const secrets = this.connection.practiceSecrets();
    if (!secrets) {
      this.notice = 'This browser does not hold the practice root key.';
      return false;
    }
    return this.run(async () => {
      await certifyPatientAccount({
        baseUrl: config.gatewayUrl,
        token: this.connection.signedIn.session.token,
        secrets,
        patientId: patient.userId,
        signPublicKey: fromBase64(patient.signPublicKey),
        boxPublicKey: fromBase64(patient.boxPublicKey),
      });
      return 'The patient’s account key is certified.';
    });
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

const KEY = Symbol('staff-admin');
export const setStaffAdminState = (state: StaffAdminState): StaffAdminState => setContext(KEY, state);
export const getStaffAdminState = (): StaffAdminState => getContext<StaffAdminState>(KEY);
