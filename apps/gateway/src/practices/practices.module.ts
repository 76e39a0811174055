import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module.js';
import { DevicesModule } from '../devices/devices.module.js';
import { SessionsModule } from '../sessions/sessions.module.js';
import { PracticeKeysController } from './practice-keys.controller.js';
import { PracticeKeysRepository } from './practice-keys.repository.js';
import { PracticeKeysService } from './practice-keys.service.js';
import { PracticeSettingsController } from './practice-settings.controller.js';
import { PracticeSettingsRepository } from './practice-settings.repository.js';
import { PracticeSettingsService } from './practice-settings.service.js';

@Module({
  imports: [SessionsModule, DevicesModule, AuditModule],
  controllers: [PracticeKeysController, PracticeSettingsController],
  providers: [PracticeKeysService, PracticeKeysRepository, PracticeSettingsService, PracticeSettingsRepository],
  exports: [PracticeKeysService, PracticeSettingsService],
})
export class PracticesModule {}
