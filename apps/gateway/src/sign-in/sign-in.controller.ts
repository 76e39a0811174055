import { Controller, HttpCode, Ip, Post } from '@nestjs/common';
import {
  ActivateRequest,
  InvitationLookupRequest,
  PreloginRequest,
  SignInRequest,
  type InvitationDetails,
  type KdfParams,
  type SessionInfo,
} from '@parley/protocol';
import { ZodBody } from '../common/zod-body.decorator.js';
import { SignInService } from './sign-in.service.js';

/** Signing in: prelogin, invitation lookup, activation and sign-in need no token; they are rate-limited instead. Signing out is `SessionsController`'s. */
@Controller('api/auth')
export class SignInController {
  constructor(private readonly auth: SignInService) {}

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
}
