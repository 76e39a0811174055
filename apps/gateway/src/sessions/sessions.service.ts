import { Injectable } from '@nestjs/common';
import type { SessionEnded } from '@parley/protocol';
import type { Actor } from '../common/actor.js';
import { rooms } from '../common/rooms.js';
import { SessionEventsGateway } from './session-events.gateway.js';
import { SessionStateCache } from './session-state.cache.js';
import { hashSessionToken } from './session-token.js';
import { SessionsRepository, type ActiveSession, type IdleTimeouts, type SessionState } from './sessions.repository.js';

/**
 * How long a session may go unused before it ends (ASVS 7.3.1), besides its absolute expiry: staff
 * 30 minutes (a shared surgery computer left signed in), patients 60 (a reply can take a while to write,
 * and the patient app locks itself after a few idle minutes anyway). Use is any authenticated HTTP request,
 * socket handshake or socket command. docs/threat-model.md, "Sessions".
 */
export const IDLE_TIMEOUTS: IdleTimeouts = Object.freeze({ staffMinutes: 30, patientMinutes: 60 });

/** Why a session can no longer be used (null while it can), and while it can, when it ends unless used. */
export interface SessionStatus {
  reason: SessionEnded['reason'] | null;
  endsAt: Date | null;
}

/** Sessions: turning a bearer token into an Actor, checking it is still good, and ending it everywhere at once. */
@Injectable()
export class SessionsService {
  constructor(
    private readonly sessions: SessionsRepository,
    private readonly events: SessionEventsGateway,
    private readonly stateCache: SessionStateCache,
  ) {}

  /** The Actor a token stands for, or null when it is malformed, unknown, expired, idle or revoked (or its device is). Counts as use. */
  async resolve(token: unknown): Promise<Actor | null> {
    return (await this.resolveSession(token))?.actor ?? null;
  }

  /** Like `resolve`, with the session's expiry and idle expiry (the handshake arms a timer with them). */
  async resolveSession(token: unknown): Promise<ActiveSession | null> {
    const tokenHash = hashSessionToken(token);
    if (!tokenHash) return null;
    const mark = this.stateCache.mark;
    const session = await this.sessions.findActiveByTokenHash(tokenHash, IDLE_TIMEOUTS);
    if (session) this.stateCache.remember(session, mark);
    return session;
  }

  /** Whether the actor's session, device and account are all still active (from memory, as `endedReason`). Counts as use. */
  async isActive(actor: Actor): Promise<boolean> {
    return (await this.endedReason(actor)) === null;
  }

  /**
   * Why the actor's session can no longer be used, or null while it can: the check before every socket command, from
   * memory (SessionStateCache; the database when the node is not hearing invalidations). Counts as use (a command).
   */
  async endedReason(actor: Pick<Actor, 'sessionId'>): Promise<SessionEnded['reason'] | null> {
    return statusOf(await this.stateCache.forCommand(actor.sessionId, IDLE_TIMEOUTS)).reason;
  }

  /**
   * The session's status for a check that is not use (a socket's expiry timer): an idle session is
   * `expired`, like one past its absolute expiry.
   */
  async status(actor: Pick<Actor, 'sessionId'>, isActivity = false): Promise<SessionStatus> {
    return statusOf(await this.sessions.findState(actor.sessionId, IDLE_TIMEOUTS, isActivity));
  }

  /**
   * The status of each of these sessions, by id, in one query: a node's periodic check of its sockets, which
   * is not use (an idle session is `expired`). An unknown id is `revoked`.
   */
  async statuses(sessionIds: readonly string[]): Promise<Map<string, SessionStatus>> {
    const states = await this.sessions.findStates(sessionIds, IDLE_TIMEOUTS);
    return new Map(sessionIds.map((id) => [id, statusOf(states.get(id) ?? null)]));
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

function statusOf(state: SessionState | null): SessionStatus {
  if (!state) return { reason: 'revoked', endsAt: null };
  if (state.endReason) return { reason: state.endReason, endsAt: null };
  if (state.isDeviceRevoked) return { reason: 'device_revoked', endsAt: null };
  if (state.isUserDeactivated) return { reason: 'revoked', endsAt: null };
  if (state.isExpired || state.isIdle) return { reason: 'expired', endsAt: null };
  return { reason: null, endsAt: state.endsAt };
}
