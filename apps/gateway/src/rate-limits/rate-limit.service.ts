import { Inject, Injectable } from '@nestjs/common';
import { DomainError } from '../common/domain-error.js';
import { APP_CONFIG, type AppConfig } from '../config.js';
import type { AttemptScope } from './auth-attempts.repository.js';
import { AuthAttemptsRepository, type AttemptCounts, type AttemptLimit } from './auth-attempts.repository.js';
import { signInDelaySeconds, wholeSecondsToWait } from './sign-in-delay.js';

/** An attempt under way: settle it with `succeeded`, or leave it counted as a failure. */
export interface Attempt {
  readonly ids: readonly string[];
  readonly limits: readonly AttemptLimit[];
}

const BACKUP_WINDOW_MINUTES = 60;
/** An account's failures count towards its delay for a day (the attempts table keeps no older rows). */
const ACCOUNT_WINDOW_MINUTES = 24 * 60;

/**
 * Limits on guessing, kept in PostgreSQL so they hold across gateway nodes. An attempt counts as a
 * failure from the moment it starts until it succeeds, so a burst of parallel guesses cannot all pass
 * the check before the first one fails. An account is never locked: after its free failures each
 * attempt waits a growing delay (docs/threat-model.md, "Sign-in guessing"); codes, IP addresses and
 * backup downloads have a fixed number per window. A refusal says when to retry (`details.retryAfterSeconds`).
 */
@Injectable()
export class RateLimitService {
  constructor(
    private readonly attempts: AuthAttemptsRepository,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /**
   * Starts a sign-in (against an account's growing delay) or an activation (against a code's limit per
   * window), counted against the IP address's limit too.
   * @throws DomainError `rate_limited` with `details.retryAfterSeconds`
   */
  startCredentialAttempt(scope: Extract<AttemptScope, 'account' | 'code'>, subject: string, ip: string | undefined): Promise<Attempt> {
    const window = this.config.signInFailureWindowMinutes;
    const limits: AttemptLimit[] = [
      { scope, subject, limit: this.config.signInMaxFailuresPerAccount, windowMinutes: scope === 'account' ? ACCOUNT_WINDOW_MINUTES : window },
    ];
    if (ip) limits.push({ scope: 'ip', subject: ip, limit: this.config.signInMaxFailuresPerIp, windowMinutes: window });
    return this.start(limits);
  }

  /**
   * Counts one key backup download of a user (every download counts, not only failures).
   * @throws DomainError `rate_limited` with `details.retryAfterSeconds`
   */
  async countBackupDownload(userId: string): Promise<void> {
    await this.start([{ scope: 'backup', subject: userId, limit: this.config.backupDownloadsPerHour, windowMinutes: BACKUP_WINDOW_MINUTES }]);
  }

  /**
   * Counts one attachment upload started by a user (every start counts, refused or not): a flood of uploads is
   * refused before anything is stored.
   * @throws DomainError `rate_limited` with `details.retryAfterSeconds`
   */
  async countUploadStart(userId: string): Promise<void> {
    await this.start([{ scope: 'upload', subject: userId, limit: this.config.attachmentUploadsPerMinute, windowMinutes: 1 }]);
  }

  /** The attempt succeeded: it stops counting, and so do earlier failures against its account or code. */
  async succeeded(attempt: Attempt): Promise<void> {
    await this.attempts.forget(attempt.ids);
    for (const limit of attempt.limits) {
      if (limit.scope === 'account' || limit.scope === 'code') await this.attempts.forgetSubject(limit.scope, limit.subject);
    }
  }

  private async start(limits: AttemptLimit[]): Promise<Attempt> {
    const counted = await this.attempts.recordAndCount(limits);
    const waits = limits.map((limit, index) => secondsToWait(limit, counted, index)).filter((seconds) => seconds > 0);
    if (waits.length > 0) {
      // A refused attempt was never tried: it must not make the wait longer.
      await this.attempts.forget(counted.ids);
      const retryAfterSeconds = wholeSecondsToWait(Math.max(...waits));
      throw new DomainError('rate_limited', `Too many attempts. Try again in ${describeWait(retryAfterSeconds)}.`, { retryAfterSeconds });
    }
    return { ids: counted.ids, limits };
  }
}

/** How long this attempt must wait under one limit; 0 when it may be tried now. */
function secondsToWait(limit: AttemptLimit, counted: AttemptCounts, index: number): number {
  const count = counted.counts[index] ?? 0;
  if (limit.scope === 'account') {
    const delay = signInDelaySeconds(count - 1, limit.limit);
    const sincePrevious = counted.previousAgeSeconds[index] ?? Number.POSITIVE_INFINITY;
    return Math.max(delay - sincePrevious, 0);
  }
  // Over a per-window limit: the window must move past the oldest counted attempt.
  return count > limit.limit ? Math.max(limit.windowMinutes * 60 - (counted.oldestAgeSeconds[index] ?? 0), 0) : 0;
}

function describeWait(seconds: number): string {
  if (seconds < 60) return seconds === 1 ? '1 second' : `${seconds} seconds`;
  const minutes = Math.ceil(seconds / 60);
  return minutes === 1 ? '1 minute' : `${minutes} minutes`;
}
