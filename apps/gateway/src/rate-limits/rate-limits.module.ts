import { Module } from '@nestjs/common';
import { AuthAttemptsRepository } from './auth-attempts.repository.js';
import { RateLimitService } from './rate-limit.service.js';

/**
 * Credential attempts counted in PostgreSQL (sign-in, codes, backup downloads) with the growing sign-in delay;
 * the per-socket token buckets (`socket-rate-limit.ts`) are used by `sessions`' handshake. A folder of its own
 * because `sign-in` and `account-keys` both count attempts, and `sign-in` already uses `account-keys`'
 * `account-signature.ts`: in either of them, the other would import it back.
 */
@Module({
  providers: [RateLimitService, AuthAttemptsRepository],
  exports: [RateLimitService],
})
export class RateLimitsModule {}
