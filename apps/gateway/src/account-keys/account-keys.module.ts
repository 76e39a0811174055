import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module.js';
import { DevicesModule } from '../devices/devices.module.js';
import { RateLimitsModule } from '../rate-limits/rate-limits.module.js';
import { SessionsModule } from '../sessions/sessions.module.js';
import { AccountKeysController } from './account-keys.controller.js';
import { AccountKeysRepository } from './account-keys.repository.js';
import { AccountKeysService } from './account-keys.service.js';

/** A patient's account key: its chain to the practice root, the practice's certificate over it, and its passphrase backup. */
@Module({
  imports: [SessionsModule, DevicesModule, RateLimitsModule, AuditModule],
  controllers: [AccountKeysController],
  providers: [AccountKeysService, AccountKeysRepository],
  exports: [AccountKeysService],
})
export class AccountKeysModule {}
