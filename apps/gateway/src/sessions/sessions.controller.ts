import { Controller, HttpCode, Post, Res, UseGuards } from '@nestjs/common';
import type { Response } from 'express';
import { Actor } from '../common/actor.js';
import { SIGN_OUT_CLEAR_SITE_DATA } from '../common/security-headers.js';
import { BearerGuard } from './bearer.guard.js';
import { SessionsService } from './sessions.service.js';

/** Signing out, here or everywhere: the caller's bearer token names the session. */
@Controller('api/auth')
export class SessionsController {
  constructor(private readonly sessions: SessionsService) {}

  @Post('sign-out')
  @HttpCode(204)
  @UseGuards(BearerGuard)
  async signOut(@Actor() actor: Actor, @Res({ passthrough: true }) response: Response): Promise<void> {
    await this.sessions.signOut(actor);
    response.setHeader('Clear-Site-Data', SIGN_OUT_CLEAR_SITE_DATA);
  }

  @Post('sign-out-everywhere')
  @HttpCode(204)
  @UseGuards(BearerGuard)
  async signOutEverywhere(@Actor() actor: Actor, @Res({ passthrough: true }) response: Response): Promise<void> {
    await this.sessions.signOutEverywhere(actor);
    response.setHeader('Clear-Site-Data', SIGN_OUT_CLEAR_SITE_DATA);
  }
}
