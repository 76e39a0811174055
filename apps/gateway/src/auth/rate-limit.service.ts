import { Inject, Injectable } from '@nestjs/common';
import { DomainError } from '../common/domain-error.js';
import { APP_CONFIG, type AppConfig } from '../config.js';
import type { AttemptScope } from './auth-attempt.entity.js';
import { AuthAttemptsRepository, type AttemptLimit } from './auth-attempts.repository.js';

/** An attempt under way: settle it with `succeeded`, or leave it counted as a failure. */
export interface Attempt {
  readonly ids: readonly string[];
  readonly limits: readonly AttemptLimit[];
}

const BACKUP_WINDOW_MINUTES = 60;

/**
 * Limits on guessing, kept in PostgreSQL so they hold across gateway nodes. An attempt counts as a
 * failure from the moment it starts until it succeeds, so a burst of parallel guesses cannot all pass
 * the check before the first one fails.
 */
@Injectable()
export class RateLimitService {
  constructor(
    private readonly attempts: AuthAttemptsRepository,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /**
   * Starts a sign-in or activation attempt, counted against one account or code and one IP address.
   * @throws DomainError `rate_limited`
   */
  startCredentialAttempt(scope: Extract<AttemptScope, 'account' | 'code'>, subject: string, ip: string | undefined): Promise<Attempt> {
    const window = this.config.signInFailureWindowMinutes;
    const limits: AttemptLimit[] = [{ scope, subject, limit: this.config.signInMaxFailuresPerAccount, windowMinutes: window }];
    if (ip) limits.push({ scope: 'ip', subject: ip, limit: this.config.signInMaxFailuresPerIp, windowMinutes: window });
    return this.start(limits);
  }

  /**
   * Counts one key backup download of a user (every download counts, not only failures).
   * @throws DomainError `rate_limited`
   */
  async countBackupDownload(userId: string): Promise<void> {
    await this.start([{ scope: 'backup', subject: userId, limit: this.config.backupDownloadsPerHour, windowMinutes: BACKUP_WINDOW_MINUTES }]);
  }

  /** The attempt succeeded: it stops counting, and so do earlier failures against its account or code. */
  async succeeded(attempt: Attempt): Promise<void> {
    await this.attempts.forget(attempt.ids);
    for (const limit of attempt.limits) {
      if (limit.scope === 'account' || limit.scope === 'code') await this.attempts.forgetSubject(limit.scope, limit.subject);
    }
  }

  private async start(limits: AttemptLimit[]): Promise<Attempt> {
    const { ids, counts } = await this.attempts.recordAndCount(limits);
    if (limits.some((limit, index) => (counts[index] ?? 0) > limit.limit)) {
      // A refused attempt was never tried: it must not keep the lock-out going.
      await this.attempts.forget(ids);
      throw new DomainError('rate_limited', 'Too many attempts. Wait a few minutes and try again.');
    }
    return { ids, limits };
  }
}
