import { Controller, Get, Put, UseGuards } from '@nestjs/common';
import { AttachmentSettings, PatientLimits, UpdateCategoriesRequest, UpdatePracticeTextsRequest, type PracticeSettings } from '@parley/protocol';
import { BearerGuard } from '../sessions/bearer.guard.js';
import { Actor } from '../common/actor.js';
import { ZodBody } from '../common/zod-body.decorator.js';
import { PracticeSettingsService } from './practice-settings.service.js';

/** The caller's practice's categories, texts, per-patient limits and attachment settings: read by anyone signed in there, changed by its managers. */
@Controller('api/practice')
@UseGuards(BearerGuard)
export class PracticeSettingsController {
  constructor(private readonly settings: PracticeSettingsService) {}

  @Get('settings')
  settingsFor(@Actor() actor: Actor): Promise<PracticeSettings> {
    return this.settings.settingsFor(actor);
  }

  @Put('categories')
  updateCategories(@Actor() actor: Actor, @ZodBody(UpdateCategoriesRequest) body: UpdateCategoriesRequest): Promise<PracticeSettings> {
    return this.settings.updateCategories(actor, body);
  }

  @Put('texts')
  updateTexts(@Actor() actor: Actor, @ZodBody(UpdatePracticeTextsRequest) body: UpdatePracticeTextsRequest): Promise<PracticeSettings> {
    return this.settings.updateTexts(actor, body);
  }

  @Put('patient-limits')
  updatePatientLimits(@Actor() actor: Actor, @ZodBody(PatientLimits) body: PatientLimits): Promise<PracticeSettings> {
    return this.settings.updatePatientLimits(actor, body);
  }

  @Get('attachment-settings')
  attachmentSettings(@Actor() actor: Actor): Promise<AttachmentSettings> {
    return this.settings.attachmentSettingsFor(actor);
  }

  @Put('attachment-settings')
  updateAttachmentSettings(@Actor() actor: Actor, @ZodBody(AttachmentSettings) body: AttachmentSettings): Promise<AttachmentSettings> {
    return this.settings.updateAttachmentSettings(actor, body);
  }
}
