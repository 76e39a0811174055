import { Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { AuditModule } from '../audit/audit.module.js';
import { AccountKeysController } from './account-keys.controller.js';
import { AccountKeysService } from './account-keys.service.js';
import { AuthAttemptsRepository } from './auth-attempts.repository.js';
import { AuthKeyHasher } from './auth-key-hasher.js';
import { AuthController } from './auth.controller.js';
import { AuthRepository } from './auth.repository.js';
import { AuthService } from './auth.service.js';
import { BearerGuard } from './bearer.guard.js';
import { ConnectionGateway } from './connection.gateway.js';
import { DevicesController } from './devices.controller.js';
import { DevicesRepository } from './devices.repository.js';
import { DevicesService } from './devices.service.js';
import { InvitationsController } from './invitations.controller.js';
import { InvitationsService } from './invitations.service.js';
import { RateLimitService } from './rate-limit.service.js';
import { SessionEventsGateway } from './session-events.gateway.js';
import { SessionGuard } from './session.guard.js';
import { SessionsRepository } from './sessions.repository.js';
import { SessionsService } from './sessions.service.js';

/**
 * Accounts, devices, sessions and the socket handshake. Other features import this module for:
 * `BearerGuard` (HTTP routes: `@UseGuards(BearerGuard)`, then `@Actor()`), `SessionsService`, and
 * `DevicesService` and `AccountKeysService` (a patient's account key chain). `SessionGuard` is installed globally here, so every socket command of every
 * gateway re-checks its session first.
 */
@Module({
  // The audit trail's writer only: audit imports no feature, so this adds no cycle.
  imports: [AuditModule],
  controllers: [AuthController, DevicesController, AccountKeysController, InvitationsController],
  providers: [
    ConnectionGateway,
    SessionEventsGateway,
    SessionsService,
    SessionsRepository,
    SessionGuard,
    { provide: APP_GUARD, useExisting: SessionGuard },
    BearerGuard,
    AuthService,
    AuthRepository,
    AuthKeyHasher,
    RateLimitService,
    AuthAttemptsRepository,
    DevicesService,
    DevicesRepository,
    AccountKeysService,
    InvitationsService,
  ],
  exports: [SessionsService, SessionGuard, BearerGuard, DevicesService, AccountKeysService],
})
export class AuthModule {}
