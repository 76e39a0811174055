import type { OffboardingProgress } from '@parley/protocol';
import { finishOffboarding, isOffboardingComplete, type RenewalFailure } from '@parley/sdk';
import type { StaffConnection } from '../connection';
import { explain } from '../words';

/**
 * One leaver's checklist on the manager's screen (docs/staff-client.md, "Offboarding"): what the server did at
 * once (account, sessions, devices, grants), then what only a manager's browser can do — rotate the record key
 * and start new epochs in every open conversation the leaver could read — with how far each step got. Running
 * it again resumes where it stopped (a closed tab, a dropped connection).
 */
export class OffboardingState {
  progress = $state.raw<OffboardingProgress | null>(null);
  failed = $state.raw<RenewalFailure[]>([]);
  isBusy = $state(false);
  error = $state<string | null>(null);

  constructor(
    private readonly connection: StaffConnection,
    private readonly userId: string,
    /** Rotates the record key with the signing key this browser holds; throws when it holds none. */
    private readonly rotate: () => Promise<void>,
  ) {}

  get isComplete(): boolean {
    return this.progress !== null && isOffboardingComplete(this.progress);
  }

  /** Reads where the offboarding stands, without changing anything. */
  async load(): Promise<void> {
    const result = await this.connection.api.offboardingProgress(this.userId);
    if (result.ok) this.progress = result.data;
    else this.error = explain(result.error.code);
  }

  /** Does what is left: the rotation (if not done), then a new epoch in each listed conversation. */
  async finish(): Promise<void> {
    this.isBusy = true;
    this.error = null;
    try {
      const outcome = await finishOffboarding({
        api: this.connection.api,
        session: this.connection.chat,
        userId: this.userId,
        rotate: this.rotate,
        onProgress: (progress) => (this.progress = progress),
      });
      this.failed = outcome.failed;
    } catch (error) {
      this.error = explain((error as { code?: string }).code ?? 'internal');
    } finally {
      this.isBusy = false;
    }
  }
}
