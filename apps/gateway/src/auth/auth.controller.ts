import { Controller, HttpCode, Ip, Post, Res, UseGuards } from '@nestjs/common';
import { ActivateRequest, InvitationLookupRequest, PreloginRequest, SignInRequest, type InvitationDetails, type KdfParams, type SessionInfo } from '@parley/protocol';
import type { Response } from 'express';
import { Actor } from '../common/actor.js';
import { SIGN_OUT_CLEAR_SITE_DATA } from '../common/security-headers.js';
import { ZodBody } from '../common/zod-body.decorator.js';
import { AuthService } from './auth.service.js';
import { BearerGuard } from './bearer.guard.js';
import { SessionsService } from './sessions.service.js';

/** Signing in and out. Prelogin, activation and sign-in need no token; they are rate-limited instead. */
@Controller('api/auth')
export class AuthController {
  constructor(
    private readonly auth: AuthService,
    private readonly sessions: SessionsService,
  ) {}

  @Post('prelogin')
  @HttpCode(200)
  prelogin(@ZodBody(PreloginRequest) body: PreloginRequest): Promise<KdfParams> {
    return this.auth.prelogin(body);
  }

  @Post('invitation')
  @HttpCode(200)
  lookUpInvitation(@ZodBody(InvitationLookupRequest) body: InvitationLookupRequest, @Ip() ip: string | undefined): Promise<InvitationDetails> {
    return this.auth.lookUpInvitation(body, ip);
  }

  @Post('activate')
  @HttpCode(200)
  activate(@ZodBody(ActivateRequest) body: ActivateRequest, @Ip() ip: string | undefined): Promise<SessionInfo> {
    return this.auth.activate(body, ip);
  }

  @Post('sign-in')
  @HttpCode(200)
  signIn(@ZodBody(SignInRequest) body: SignInRequest, @Ip() ip: string | undefined): Promise<SessionInfo> {
    return this.auth.signIn(body, ip);
  }

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
