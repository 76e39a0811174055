import { Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { BearerGuard } from './bearer.guard.js';
import { ConnectionGateway } from './connection.gateway.js';
import { SessionEventsGateway } from './session-events.gateway.js';
import { SessionStateCache } from './session-state.cache.js';
import { SessionGuard } from './session.guard.js';
import { SessionsRepository } from './sessions.repository.js';
import { SessionsService } from './sessions.service.js';

/**
 * Sessions: bearer tokens, the socket handshake and its session sweep, ending sessions, and ending live sockets when a
 * session ends (the sign-out routes are `sign-out`'s, which also revokes a patient's device). It imports no feature. Other features import this module for `BearerGuard` (HTTP routes:
 * `@UseGuards(BearerGuard)`, then `@Actor()`) and `SessionsService`; `devices` also uses `SessionEventsGateway`
 * to end the sockets of a revoked device. `SessionGuard` is installed globally here, so every socket command of
 * every gateway re-checks its session first, from memory (SessionStateCache, kept by the global InvalidationModule's
 * listener), and the handshake gateway closes this node's sockets of a session the database says ended.
 */
@Module({
  providers: [
    ConnectionGateway,
    SessionEventsGateway,
    SessionsService,
    SessionsRepository,
    SessionStateCache,
    SessionGuard,
    { provide: APP_GUARD, useExisting: SessionGuard },
    BearerGuard,
  ],
  exports: [SessionsService, SessionGuard, BearerGuard, SessionEventsGateway],
})
export class SessionsModule {}
