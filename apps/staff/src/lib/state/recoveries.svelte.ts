import type { RecoverySummary } from '@parley/protocol';
import { approveRecovery, completeRecovery, startRecovery, verifiedRecoveryRequest } from '@parley/sdk';
import { contextPair } from '@parley/ui';
import { config } from '../config';
import type { StaffConnection } from '../connection';
import { explain } from '../words';

/** A recovery code as this browser made it: shown once, to give to the patient; it exists nowhere else. */
export interface IssuedRecoveryCode {
  patientName: string;
  code: string;
  groups: string[];
  expiresAt: Date;
}

/** A listed recovery with what this browser verified of it (never the server's word). */
export interface RecoveryRow {
  summary: RecoverySummary;
  /** The new account key's fingerprint when the chain verifies against the pinned root; null when it does not (or nothing was sent yet). */
  fingerprint: string | null;
  startedByName: string | null;
  hasMyApproval: boolean;
}

/**
 * Practice-assisted recovery (flow B, docs/crypto.md) from the staff side: start one for a patient whose identity was
 * checked, approve one (any member of staff, once per account), complete one (a manager holding the root key).
 */
export class RecoveriesState {
  rows = $state.raw<RecoveryRow[]>([]);
  issued = $state.raw<IssuedRecoveryCode | null>(null);
  notice = $state<string | null>(null);
  isBusy = $state(false);

  constructor(private readonly connection: StaffConnection) {}

  /** Whether this browser holds the root key, which completing a recovery needs. */
  get canComplete(): boolean {
    return this.connection.root !== undefined;
  }

  private get practice(): string {
    return this.connection.signedIn.session.practice.odsCode;
  }

  /** The root this browser pinned (or the authority resolved from it): every check below is against it. */
  private get pinnedRoot() {
    return this.connection.pinnedRoot;
  }

  async refresh(): Promise<void> {
    const result = await this.connection.api.listRecoveries();
    if (!result.ok) {
      this.notice = explain(result.error.code);
      return;
    }
    const me = this.connection.signedIn.session.user.id;
    this.rows = result.data.map((summary) => {
      const verified = verifiedRecoveryRequest(summary, this.practice, this.pinnedRoot);
      return {
        summary,
        fingerprint: verified?.accountFingerprint ?? null,
        startedByName: verified?.startedBy.displayName ?? null,
        hasMyApproval: summary.approvals.some((approval) => approval.userId === me),
      };
    });
  }

  /** Starts a recovery for the patient with this NHS number (after checking who they are); the code is made here and shown once. */
  async start(nhsNumber: string): Promise<void> {
    await this.run(async () => {
      this.issued = null;
      const found = await this.connection.api.searchPatients({ nhsNumber: nhsNumber.replace(/\s/g, '') });
      if (!found.ok) throw found.error;
      const patient = found.data.patients.find((candidate) => candidate.isActivated && candidate.deactivatedAt === null);
      if (!patient) {
        this.notice = 'No patient with an activated account has that NHS number.';
        return;
      }
      const made = await startRecovery({
        baseUrl: config.gatewayUrl,
        token: this.connection.signedIn.session.token,
        practice: this.practice,
        device: this.connection.signedIn.device,
        pinnedRoot: this.pinnedRoot,
        patientId: patient.userId,
      });
      this.issued = { patientName: patient.displayName, code: made.code, groups: made.code.split('-'), expiresAt: new Date(made.expiresAt) };
    });
  }

  /** Approves a recovery whose chain this browser verified. */
  async approve(row: RecoveryRow): Promise<void> {
    await this.run(async () => {
      await approveRecovery({
        baseUrl: config.gatewayUrl,
        token: this.connection.signedIn.session.token,
        practice: this.practice,
        pinnedRoot: this.pinnedRoot,
        recovery: row.summary,
      });
      this.notice = row.summary.approvals.length === 0 ? 'Approved. A second member of staff must approve it too.' : 'Approved.';
    });
  }

  /** Re-seals the patient's old keys to the new account key, certifies it with the root and swaps it in (two approvals needed). */
  async complete(row: RecoveryRow): Promise<void> {
    const root = this.connection.root;
    if (!root) return;
    await this.run(async () => {
      const done = await completeRecovery({
        baseUrl: config.gatewayUrl,
        token: this.connection.signedIn.session.token,
        practice: this.practice,
        pinnedRoot: this.pinnedRoot,
        device: this.connection.signedIn.device,
        rootSignSecretKey: root.signSecretKey,
        recordKeys: this.connection.recordKeys,
        recovery: row.summary,
      });
      this.notice = `Recovery completed: ${done.resealed} conversation ${done.resealed === 1 ? 'key' : 'keys'} handed over${done.unopened > 0 ? `, ${done.unopened} could not be opened` : ''}. The patient's old devices are signed out.`;
    });
  }

  forget(): void {
    this.issued = null;
  }

  private async run(work: () => Promise<void>): Promise<void> {
    this.isBusy = true;
    this.notice = null;
    try {
      await work();
    } catch (error) {
      this.notice = describeRecoveryError(error);
    } finally {
      this.isBusy = false;
      await this.refresh().catch(() => undefined);
    }
  }
}

function describeRecoveryError(error: unknown): string {
  const { code, details } = error as { code?: string; details?: Record<string, unknown> };
  if (details?.['reason'] === 'second_approval_needed') return 'A second member of staff, signed in as someone else, must approve this recovery first.';
  if (details?.['reason'] === 'already_approved') return 'You approved this recovery already: a second member of staff must approve it.';
  switch (code) {
    case 'untrusted_recovery':
      return 'This recovery does not verify against your practice key. Do not approve it: tell your practice manager.';
    case 'forbidden':
      return 'This computer cannot do that: it must be admitted, and completing needs a manager holding the practice root key.';
    case 'conflict':
      return 'A recovery is already open for this patient, or this one is no longer waiting.';
    default:
      return explain(code ?? 'internal');
  }
}

export const [setRecoveriesState, getRecoveriesState] = contextPair<RecoveriesState>('recoveries');
