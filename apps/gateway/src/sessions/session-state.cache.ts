import { Injectable } from '@nestjs/common';
import { InvalidatedCache } from '../invalidation/invalidated-cache.js';
import { InvalidationListener } from '../invalidation/invalidation.listener.js';
import { LAST_SEEN_RESOLUTION_MS, SessionsRepository, type ActiveSession, type IdleTimeouts, type SessionState } from './sessions.repository.js';

/** Sessions held in memory at most (about 300 bytes each): those that connected or sent a command lately, the least recently used going first. */
export const SESSION_STATE_ENTRIES = 20_000;

/**
 * The state of the sessions that connect and send commands, from memory (docs/decisions/0006-cache-invalidation-listen-notify.md):
 * on every node it is forgotten the moment the session ends or changes (`session:<id>`), its device is revoked
 * (`device:<id>`) or its account deactivated (`user:<id>`). Its expiry and idle end are instants compared with the
 * clock here. A command still counts as use at the database's resolution: when the cached last use is a minute old,
 * the state is read again, which marks the session seen (`findState` with `isActivity`). A state that memory finds
 * expired or idle is read again before it is believed: another node may have marked the session seen since.
 */
@Injectable()
export class SessionStateCache {
  private readonly cache: InvalidatedCache<string, SessionState>;

  constructor(
    private readonly sessions: SessionsRepository,
    listener: InvalidationListener,
  ) {
    this.cache = new InvalidatedCache(listener, SESSION_STATE_ENTRIES);
    listener.onInvalidation(({ kind, id }) => {
      if (kind === 'session' || kind === 'session_ended') this.cache.invalidate(id);
      else if (kind === 'device') this.cache.invalidateWhere((state) => state.deviceId === id);
      else if (kind === 'user') this.cache.invalidateWhere((state) => state.userId === id);
    });
    listener.onReset(() => this.cache.clear());
  }

  /** Sessions in memory now. */
  get size(): number {
    return this.cache.size;
  }

  /** A mark to take before resolving a session's token, for `remember` (see InvalidatedCache.offer). */
  get mark(): number {
    return this.cache.mark;
  }

  /**
   * A live session just read by its token (a socket's handshake, a request): its state, as `forCommand` would have read
   * it, so that the socket's first command does not read it again (that read was one query of every patient's first
   * open). Kept only if nothing was invalidated since `mark`.
   */
  remember(session: ActiveSession, mark: number): void {
    const state: SessionState = {
      userId: session.actor.userId,
      deviceId: session.actor.deviceId,
      endReason: null,
      isExpired: false,
      isIdle: false,
      endsAt: session.expiresAt < session.idleExpiresAt ? session.expiresAt : session.idleExpiresAt,
      expiresAt: session.expiresAt,
      lastSeenAt: session.lastSeenAt,
      isDeviceRevoked: false,
      isUserDeactivated: false,
    };
    this.cache.offer(session.actor.sessionId, state, mark);
  }

  /** The session's state for a command (use), null if there is no such session; its flags hold as of now. */
  async forCommand(sessionId: string, idle: IdleTimeouts): Promise<SessionState | null> {
    const load = (id: string) => this.sessions.findState(id, idle, true).then((state) => state ?? undefined);
    const cached = await this.cache.get(sessionId, load);
    if (!cached) return null;
    // An ended state stays ended: nothing but a notified change brings a session back.
    if (cached.endReason || cached.isDeviceRevoked || cached.isUserDeactivated || cached.isExpired || cached.isIdle) return cached;
    const now = Date.now();
    if (now < cached.endsAt.getTime() && now - cached.lastSeenAt.getTime() < LAST_SEEN_RESOLUTION_MS) return cached;
    return (await this.cache.reload(sessionId, load)) ?? null;
  }
}
