import { Module } from '@nestjs/common';
import { AuthModule } from '../auth/auth.module.js';
import { PracticeKeysController } from './practice-keys.controller.js';
import { PracticeKeysRepository } from './practice-keys.repository.js';
import { PracticeKeysService } from './practice-keys.service.js';

@Module({
  imports: [AuthModule],
  controllers: [PracticeKeysController],
  providers: [PracticeKeysService, PracticeKeysRepository],
  exports: [PracticeKeysService],
})
export class PracticesModule {}
