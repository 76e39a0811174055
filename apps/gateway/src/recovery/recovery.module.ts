import { Module } from '@nestjs/common';
import { AccountKeysModule } from '../account-keys/account-keys.module.js';
import { AuditModule } from '../audit/audit.module.js';
import { RateLimitsModule } from '../rate-limits/rate-limits.module.js';
import { SessionsModule } from '../sessions/sessions.module.js';
import { AuthKeyHasher } from '../sign-in/auth-key-hasher.js';
import { RecoveryPatientController, RecoveryStaffController } from './recovery.controller.js';
import { RecoveryRepository } from './recovery.repository.js';
import { RecoveryService } from './recovery.service.js';

/** Practice-assisted recovery after a forgotten passphrase (flow B): two members of staff approve a patient's new account key. */
@Module({
  imports: [SessionsModule, AccountKeysModule, RateLimitsModule, AuditModule],
  controllers: [RecoveryPatientController, RecoveryStaffController],
  providers: [RecoveryService, RecoveryRepository, AuthKeyHasher],
})
export class RecoveryModule {}
