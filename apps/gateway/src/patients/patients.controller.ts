import { Controller, Get, UseGuards } from '@nestjs/common';
import { PatientSearchQuery, type PatientSearchResult } from '@parley/protocol';
import { BearerGuard } from '../sessions/bearer.guard.js';
import { Actor } from '../common/actor.js';
import { ZodQuery } from '../common/zod-query.decorator.js';
import { PatientsService } from './patients.service.js';

/** Patient search for the caller's practice's staff. */
@Controller('api/patients')
@UseGuards(BearerGuard)
export class PatientsController {
  constructor(private readonly patients: PatientsService) {}

  @Get()
  search(@Actor() actor: Actor, @ZodQuery(PatientSearchQuery) query: PatientSearchQuery): Promise<PatientSearchResult> {
    return this.patients.search(actor, query);
  }
}
