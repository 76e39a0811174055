import { Controller, Get, HttpCode, Post, UseGuards } from '@nestjs/common';
import { AcceptTermsRequest, PublishTermsRequest, type PracticeTerms, type TermsConsent, type TermsStatus } from '@parley/protocol';
import { BearerGuard } from '../sessions/bearer.guard.js';
import { Actor } from '../common/actor.js';
import { ZodBody } from '../common/zod-body.decorator.js';
import { ConsentService } from './consent.service.js';

/** The caller's practice's terms: read (anyone there), publish (managers), accept (patients). */
@Controller('api/practice/terms')
@UseGuards(BearerGuard)
export class ConsentController {
  constructor(private readonly consent: ConsentService) {}

  @Get()
  status(@Actor() actor: Actor): Promise<TermsStatus> {
    return this.consent.status(actor);
  }

  @Post()
  @HttpCode(201)
  publish(@Actor() actor: Actor, @ZodBody(PublishTermsRequest) body: PublishTermsRequest): Promise<PracticeTerms> {
    return this.consent.publish(actor, body);
  }

  @Post('consent')
  @HttpCode(200)
  accept(@Actor() actor: Actor, @ZodBody(AcceptTermsRequest) body: AcceptTermsRequest): Promise<TermsConsent> {
    return this.consent.accept(actor, body);
  }
}
