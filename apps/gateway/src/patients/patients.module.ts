import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module.js';
import { SessionsModule } from '../sessions/sessions.module.js';
import { PatientsController } from './patients.controller.js';
import { PatientsRepository } from './patients.repository.js';
import { PatientsService } from './patients.service.js';

/** Patient search for staff (GET /api/patients). */
@Module({ imports: [SessionsModule, AuditModule], controllers: [PatientsController], providers: [PatientsService, PatientsRepository] })
export class PatientsModule {}
