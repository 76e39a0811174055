import { Injectable } from '@nestjs/common';
import type { SessionEnded } from '@parley/protocol';
import type { Actor } from '../common/actor.js';
import { rooms } from '../common/rooms.js';
import { SessionEventsGateway } from './session-events.gateway.js';
import { hashSessionToken } from './session-token.js';
import { SessionsRepository, type ActiveSession } from './sessions.repository.js';

/** Sessions: turning a bearer token into an Actor, checking it is still good, and ending it everywhere at once. */
@Injectable()
export class SessionsService {
  constructor(
    private readonly sessions: SessionsRepository,
    private readonly events: SessionEventsGateway,
  ) {}

  /** The Actor a token stands for, or null when it is malformed, unknown, expired or revoked (or its device is). */
  async resolve(token: unknown): Promise<Actor | null> {
    return (await this.resolveSession(token))?.actor ?? null;
  }

  /** Like `resolve`, with the session's expiry (the handshake arms a timer with it). */
  async resolveSession(token: unknown): Promise<ActiveSession | null> {
    const tokenHash = hashSessionToken(token);
    return tokenHash ? this.sessions.findActiveByTokenHash(tokenHash) : null;
  }

  /** Whether the actor's session, device and account are all still active (one primary-key lookup). */
  async isActive(actor: Actor): Promise<boolean> {
    return (await this.endedReason(actor)) === null;
  }

  /** Why the actor's session can no longer be used, or null while it can. */
  async endedReason(actor: Pick<Actor, 'sessionId'>): Promise<SessionEnded['reason'] | null> {
    const state = await this.sessions.findState(actor.sessionId);
    if (!state) return 'revoked';
    if (state.endReason) return state.endReason;
    if (state.isDeviceRevoked) return 'device_revoked';
    if (state.isUserDeactivated) return 'revoked';
    if (state.isExpired) return 'expired';
    return null;
  }

  /** Ends the caller's session and closes its sockets. */
  async signOut(actor: Actor): Promise<void> {
    await this.sessions.revoke(actor.sessionId, 'signed_out');
    this.events.ended(rooms.session(actor.sessionId), 'signed_out');
  }

  /** Ends every session of the caller, on every device, and closes all their sockets. */
  async signOutEverywhere(actor: Actor): Promise<void> {
    await this.sessions.revokeAllOfUser(actor.userId, 'signed_out');
    this.events.ended(rooms.user(actor.userId), 'signed_out');
  }
}
