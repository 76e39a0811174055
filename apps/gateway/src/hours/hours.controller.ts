import { Controller, Delete, Get, HttpCode, Param, Put, UseGuards } from '@nestjs/common';
import { LocalDate, ReplaceWeeklyHoursRequest, SetHoursExceptionRequest, UpdateHoursSettingsRequest, type HoursView } from '@parley/protocol';
import { BearerGuard } from '../sessions/bearer.guard.js';
import { Actor } from '../common/actor.js';
import { SchemaPipe } from '../common/schema.pipe.js';
import { ZodBody } from '../common/zod-body.decorator.js';
import { HoursService } from './hours.service.js';

/** A date in the path, "YYYY-MM-DD" (anything else is `invalid_payload` before any query sees it). */
const DateParam = (name: string): ParameterDecorator => Param(name, new SchemaPipe(LocalDate));

/** The caller's practice's opening hours: anyone of the practice reads them, managers change them. */
@Controller('api/hours')
@UseGuards(BearerGuard)
export class HoursController {
  constructor(private readonly hours: HoursService) {}

  @Get()
  view(@Actor() actor: Actor): Promise<HoursView> {
    return this.hours.view(actor);
  }

  @Put('weekly')
  @HttpCode(204)
  replaceWeekly(@Actor() actor: Actor, @ZodBody(ReplaceWeeklyHoursRequest) body: ReplaceWeeklyHoursRequest): Promise<void> {
    return this.hours.replaceWeekly(actor, body);
  }

  @Put('exceptions/:date')
  @HttpCode(204)
  setException(@Actor() actor: Actor, @DateParam('date') date: string, @ZodBody(SetHoursExceptionRequest) body: SetHoursExceptionRequest): Promise<void> {
    return this.hours.setException(actor, date, body);
  }

  @Delete('exceptions/:date')
  @HttpCode(204)
  removeException(@Actor() actor: Actor, @DateParam('date') date: string): Promise<void> {
    return this.hours.removeException(actor, date);
  }

  @Put('settings')
  @HttpCode(204)
  updateSettings(@Actor() actor: Actor, @ZodBody(UpdateHoursSettingsRequest) body: UpdateHoursSettingsRequest): Promise<void> {
    return this.hours.updateSettings(actor, body);
  }
}
