import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module.js';
import { RateLimitsModule } from '../rate-limits/rate-limits.module.js';
import { AuthKeyHasher } from './auth-key-hasher.js';
import { SignInController } from './sign-in.controller.js';
import { SignInRepository } from './sign-in.repository.js';
import { SignInService } from './sign-in.service.js';

/** Prelogin (salt and cost, or a decoy), invitation lookup, activation (an account's first sign-in) and sign-in; each starts a session. */
@Module({
  imports: [RateLimitsModule, AuditModule],
  controllers: [SignInController],
  providers: [SignInService, SignInRepository, AuthKeyHasher],
})
export class SignInModule {}
