import { type CanActivate, type ExecutionContext, Injectable } from '@nestjs/common';
import type { Request } from 'express';
import type { Actor } from '../common/actor.js';
import { DomainError } from '../common/domain-error.js';
import { bearerToken } from './session-token.js';
import { SessionsService } from './sessions.service.js';

/**
 * Guards an HTTP route: `Authorization: Bearer <token>` must name a live session, whose Actor it puts
 * on `request.actor` (read with `@Actor()`). Anything else answers `unauthorized`.
 */
@Injectable()
export class BearerGuard implements CanActivate {
  constructor(private readonly sessions: SessionsService) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const request = context.switchToHttp().getRequest<Request & { actor?: Actor }>();
    const actor = await this.sessions.resolve(bearerToken(request.headers.authorization));
    if (!actor) throw new DomainError('unauthorized');
    request.actor = actor;
    return true;
  }
}
