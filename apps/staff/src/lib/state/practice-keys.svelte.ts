import { checkPassphraseStrength, fingerprint } from '@parley/crypto';
import type { StaffMember } from '@parley/protocol';
import { addPracticeAdminKey, currentRoot, openOfflineRoot, rotatePracticeRoot, sealOfflineRoot, staffDeviceTrust, type StaffDeviceTrust } from '@parley/sdk';
import { contextPair } from '@parley/ui';
import { config } from '../config';
import { rotateRecordKeyHere, type StaffConnection } from '../connection';
import { explain } from '../words';

/** A staff device and whether the practice's authority, as this browser resolved it, vouches for its certificate. */
export interface VouchedDevice {
  member: string;
  label: string;
  trust: StaffDeviceTrust;
}

/** The root key sealed for offline keeping, shown once: the file to save and the code for the second person. */
export interface OfflineRootExport {
  href: string;
  secondPersonCode: string;
}

/**
 * Managers: the practice's signing authority (docs/staff-client.md, "Practice keys"). The root key rotates the
 * root and certifies admin keys; the admin key signs everyday statements; the record key rotates. The root can
 * be sealed into an offline file (passphrase + a second person's code), removed from this browser, and brought
 * back for the rare events that need it. Every step runs here; the server stores only public keys and signatures.
 */
export class PracticeKeysState {
  notice = $state<string | null>(null);
  isBusy = $state(false);
  offlineExport = $state<OfflineRootExport | null>(null);
  devices = $state.raw<VouchedDevice[]>([]);
  /** Bumped when the connection's keys change, so the getters below are read again. */
  private changes = $state(0);

  constructor(private readonly connection: StaffConnection) {}

  get holdsRoot(): boolean {
    void this.changes;
    return this.connection.root !== undefined;
  }

  get holdsAdminKey(): boolean {
    void this.changes;
    return this.connection.admin !== undefined;
  }

  /** The practice security code: the fingerprint of the current root. */
  get securityCode(): string {
    void this.changes;
    return this.connection.rootFingerprint;
  }

  /** The admin keys the current root certified that this browser trusts. */
  get adminKeyFingerprints(): string[] {
    void this.changes;
    return this.connection.pinnedRoot.adminKeys.map((key) => fingerprint(key.signPublicKey));
  }

  get recordKeyVersion(): number {
    void this.changes;
    return Math.max(0, ...this.connection.recordKeys.keys());
  }

  private get odsCode(): string {
    return this.connection.signedIn.session.practice.odsCode;
  }

  /** Each active staff device judged here against the authority: the server's listing proves nothing. */
  async refresh(): Promise<void> {
    await this.connection.refreshAuthority();
    const staff = await this.connection.api.listStaff();
    if (!staff.ok) return void (this.notice = explain(staff.error.code));
    this.devices = staff.data
      .filter((member) => member.deactivatedAt === null)
      .flatMap((member: StaffMember) =>
        member.devices
          .filter((device) => device.revokedAt === null)
          .map((device) => ({
            member: member.displayName,
            label: device.label,
            trust: staffDeviceTrust(member, device, this.odsCode, this.connection.pinnedRoot),
          })),
      );
    this.changes += 1;
  }

  /** Makes a practice admin key certified by the root held here: everyday signing moves to it. */
  makeAdminKey(): Promise<boolean> {
    const root = this.connection.root;
    if (!root) return this.refuse('Bring the root key back to this browser first.');
    return this.run(async () => {
      const admin = await addPracticeAdminKey({ baseUrl: config.gatewayUrl, token: this.token, odsCode: this.odsCode, root });
      await this.connection.holdPracticeKeys({ admin });
      return 'The practice admin key is made: it signs admissions and record keys from now on. Make a new key backup file so it is kept.';
    });
  }

  /** Rotates the record key: a new version certified by the admin key (or the root), granted to every device the authority vouches for. */
  rotateRecordKey(): Promise<boolean> {
    const secrets = this.connection.practiceSecrets();
    if (!secrets) return this.refuse('This browser holds neither the admin key nor the root key.');
    return this.run(async () => {
      const rotation = await rotateRecordKeyHere(this.connection);
      return `Record key version ${rotation.recordKey.version} is current, granted to ${rotation.grantedDeviceIds.length} devices.`;
    });
  }

  /** The root rotation ceremony: a new root signed by the old one, a new admin key, and everything still valid certified again. */
  rotateRoot(): Promise<boolean> {
    const root = this.connection.root;
    if (!root) return this.refuse('Bring the root key back to this browser first.');
    return this.run(async () => {
      const rotation = await rotatePracticeRoot({
        baseUrl: config.gatewayUrl,
        token: this.token,
        odsCode: this.odsCode,
        root,
        pinnedRoot: currentRoot(this.connection.pinnedRoot),
      });
      await this.connection.holdPracticeKeys({ root: rotation.root, admin: rotation.admin });
      return `The root key is replaced: ${rotation.recertifiedDeviceIds.length} devices and ${rotation.recertifiedVersions.length} record key versions are certified again. The old root key can no longer certify anything. Make a new key backup file, then seal the new root offline.`;
    });
  }

  /** Seals the root held here into an offline file under the passphrase and a code for a second person. */
  exportRoot(passphrase: string): Promise<boolean> {
    const root = this.connection.root;
    if (!root) return this.refuse('This browser does not hold the root key.');
    if (!checkPassphraseStrength(passphrase).isAcceptable)
      return this.refuse('Choose a stronger passphrase: at least six words, or 15 characters that are hard to guess.');
    return this.run(async () => {
      const sealed = await sealOfflineRoot({ odsCode: this.odsCode, root, passphrase });
      if (this.offlineExport) URL.revokeObjectURL(this.offlineExport.href);
      this.offlineExport = { href: URL.createObjectURL(new Blob([sealed.file], { type: 'application/json' })), secondPersonCode: sealed.secondPersonCode };
      return 'The root key is sealed. Save the file, and have a second person write down the code: both are needed to open it.';
    });
  }

  /** Removes the root from this browser, once it is sealed offline and an admin key can do the everyday signing. */
  removeRoot(): Promise<boolean> {
    if (!this.offlineExport) return this.refuse('Seal the root key into the offline file first.');
    if (!this.connection.admin) return this.refuse('Make a practice admin key first: without it nothing could be signed here.');
    return this.run(async () => {
      await this.connection.holdPracticeKeys({ root: null });
      URL.revokeObjectURL(this.offlineExport!.href);
      this.offlineExport = null;
      return 'The root key is removed from this browser. Make a new key backup file: the old one still holds the root.';
    });
  }

  /** Brings the root back from the offline file (to rotate it or certify an admin key); only the practice's current root is taken. */
  importRoot(file: string, passphrase: string, secondPersonCode: string): Promise<boolean> {
    return this.run(async () => {
      const opened = await openOfflineRoot(file, passphrase, secondPersonCode);
      const current = currentRoot(this.connection.pinnedRoot);
      if (opened.odsCode !== this.odsCode || !equalKeys(opened.root.signPublicKey, current)) {
        throw Object.assign(new Error('not the current root'), { code: 'retired_root' });
      }
      await this.connection.holdPracticeKeys({ root: opened.root });
      return 'The root key is back in this browser. Remove it again when you are done.';
    });
  }

  private get token(): string {
    return this.connection.signedIn.session.token;
  }

  private async refuse(notice: string): Promise<boolean> {
    this.notice = notice;
    return false;
  }

  private async run(step: () => Promise<string>): Promise<boolean> {
    this.isBusy = true;
    try {
      const done = await step();
      await this.refresh();
      this.notice = done;
      return true;
    } catch (error) {
      this.notice = words((error as { code?: string }).code ?? 'internal');
      return false;
    } finally {
      this.isBusy = false;
    }
  }
}

function words(code: string): string {
  switch (code) {
    case 'wrong_passphrase':
      return 'The file does not open with that passphrase and code.';
    case 'invalid_payload':
      return 'That is not an offline root key file.';
    case 'retired_root':
      return "That file holds another practice's root, or one this practice has replaced.";
    case 'untrusted_root':
      return "The root key in this browser is not the practice's current root.";
    case 'no_signing_key':
      return 'This browser holds neither the admin key nor the root key.';
    default:
      return explain(code);
  }
}

function equalKeys(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, index) => byte === b[index]);
}

export const [setPracticeKeysState, getPracticeKeysState] = contextPair<PracticeKeysState>('practice-keys');
