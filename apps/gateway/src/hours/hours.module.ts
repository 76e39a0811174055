import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module.js';
import { SessionsModule } from '../sessions/sessions.module.js';
import { BANK_HOLIDAYS, loadBankHolidays } from './bank-holidays.js';
import { HoursController } from './hours.controller.js';
import { HoursGateway } from './hours.gateway.js';
import { HoursRepository } from './hours.repository.js';
import { HoursScheduler } from './hours.scheduler.js';
import { HoursService } from './hours.service.js';

@Module({
  imports: [SessionsModule, AuditModule],
  controllers: [HoursController],
  providers: [HoursService, HoursRepository, HoursScheduler, HoursGateway, { provide: BANK_HOLIDAYS, useFactory: () => loadBankHolidays() }],
  exports: [HoursService],
})
export class HoursModule {}
