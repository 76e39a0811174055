import { Controller, HttpCode, Post, Res, UseGuards } from '@nestjs/common';
import type { Response } from 'express';
import { Actor } from '../common/actor.js';
import { SIGN_OUT_CLEAR_SITE_DATA } from '../common/security-headers.js';
import { BearerGuard } from '../sessions/bearer.guard.js';
import { SignOutService } from './sign-out.service.js';

/** Signing out, here or everywhere: the caller's bearer token names the session (and, for a patient, the device it revokes). */
@Controller('api/auth')
export class SignOutController {
  constructor(private readonly signOuts: SignOutService) {}

  @Post('sign-out')
  @HttpCode(204)
  @UseGuards(BearerGuard)
  async signOut(@Actor() actor: Actor, @Res({ passthrough: true }) response: Response): Promise<void> {
    await this.signOuts.signOut(actor);
    response.setHeader('Clear-Site-Data', SIGN_OUT_CLEAR_SITE_DATA);
  }

  @Post('sign-out-everywhere')
  @HttpCode(204)
  @UseGuards(BearerGuard)
  async signOutEverywhere(@Actor() actor: Actor, @Res({ passthrough: true }) response: Response): Promise<void> {
    await this.signOuts.signOutEverywhere(actor);
    response.setHeader('Clear-Site-Data', SIGN_OUT_CLEAR_SITE_DATA);
  }
}
