import { Inject, Logger, type OnModuleDestroy } from '@nestjs/common';
import { type OnGatewayConnection, type OnGatewayDisconnect, type OnGatewayInit, WebSocketGateway } from '@nestjs/websockets';
import { COMMAND_NAMES, type Ack, type ClientToServer, type ServerToClient, type SessionEnded } from '@parley/protocol';
import type { Server, Socket } from 'socket.io';
import { isStaff, type Actor } from '../common/actor.js';
import { rooms } from '../common/rooms.js';
import { SendLanes } from '../common/send-lanes.js';
import { APP_CONFIG, type AppConfig } from '../config.js';
import { InvalidationListener, type Invalidation } from '../invalidation/invalidation.listener.js';
import { SessionsService } from './sessions.service.js';
import { SocketRateLimiter } from '../rate-limits/socket-rate-limit.js';

const KNOWN_COMMANDS: ReadonlySet<string> = new Set(COMMAND_NAMES);
// setTimeout's ceiling (about 24.8 days): a longer session's check fires then and is armed again.
const MAX_TIMER_MS = 2 ** 31 - 1;
/** How soon an expiry check that found the session still live looks again, at the earliest. */
const EXPIRY_RECHECK_MS = 1_000;
/**
 * How often each node checks the sessions of all its own sockets, in one query: the longest a socket outlives its
 * session (plus that query's time) when the push that should end it is lost, e.g. another node's `session:ended`
 * while this node's Redis link is down. docs/threat-model.md, T18.
 */
export const SESSION_SWEEP_MS = 2_000;

/** What the handshake leaves on `socket.data`. */
interface SocketData {
  actor?: Actor;
  /** When the session expires, or sooner goes idle unless used again. */
  sessionEndsAt?: Date;
}
type ParleySocket = Socket<ClientToServer, ServerToClient, never, SocketData>;

/**
 * Every socket's life cycle. The handshake must carry a live session token (`auth.token`): the socket
 * then holds its Actor in `socket.data.actor` and sits in its user, device and session rooms (and, for
 * staff, the practice's staff room), so ending a session can reach its sockets. It also logs sockets
 * by id, closes them when their session expires or goes idle, and answers commands the protocol does not know.
 * Every SESSION_SWEEP_MS it checks the sessions of all the node's sockets at once and closes those that ended, so
 * a socket whose `session:ended` never reached this node stops receiving conversation traffic all the same.
 */
@WebSocketGateway()
export class ConnectionGateway implements OnGatewayInit, OnGatewayConnection, OnGatewayDisconnect, OnModuleDestroy {
  private readonly logger = new Logger(ConnectionGateway.name);
  private readonly expiryTimers = new Map<string, NodeJS.Timeout>();
  private server: Server<ClientToServer, ServerToClient, never, SocketData> | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;
  private isSweeping = false;

  private readonly rateLimiter: SocketRateLimiter;
  private stopListening: (() => void) | undefined;

  constructor(
    private readonly sessions: SessionsService,
    private readonly invalidations: InvalidationListener,
    private readonly lanes: SendLanes,
    @Inject(APP_CONFIG) config: AppConfig,
  ) {
    this.rateLimiter = new SocketRateLimiter(config.socketRateLimits);
  }

  afterInit(server: Server<ClientToServer, ServerToClient, never, SocketData>): void {
    this.server = server;
    this.sweepTimer = setInterval(() => void this.sweep(), SESSION_SWEEP_MS).unref();
    // A session ended, a device revoked or an account deactivated anywhere: this node's sockets of it close now, by the
    // database's notification, whether or not the node that made the change reaches this one through Redis.
    this.stopListening = this.invalidations.onInvalidation((invalidation) => {
      const room = roomOf(invalidation);
      if (room) void this.closeEndedIn(room);
    });
    // A handshake middleware runs before any gateway sees the connection, so no handler ever meets a socket without an Actor.
    server.use((socket, next) => {
      // A connection storm from one address is refused before it costs a session lookup.
      if (!this.rateLimiter.allowConnection(socket.handshake.address)) {
        this.logger.warn({ socketId: socket.id }, 'handshake refused: too many connections from one address');
        return next(new Error('rate_limited'));
      }
      this.authenticate(socket).then(next, (error: unknown) => {
        this.logger.error({ socketId: socket.id, err: error }, 'handshake failed');
        next(new Error('internal'));
      });
    });
  }

  handleConnection(socket: ParleySocket): void {
    const { actor, sessionEndsAt } = socket.data;
    this.logger.log({ socketId: socket.id, userId: actor?.userId, deviceId: actor?.deviceId }, 'socket connected');
    if (sessionEndsAt) this.armExpiry(socket, sessionEndsAt.getTime());
    // Flood limits run before any handler: an event over the limit is dropped, and answered `rate_limited` if it has an ack.
    const bucket = this.rateLimiter.socketBucket();
    socket.use(([event, ...args], next) => {
      if (actor && !this.rateLimiter.allowEvent(bucket, actor.userId)) {
        this.logger.debug({ socketId: socket.id, userId: actor.userId, event: String(event).slice(0, 64) }, 'socket command refused: rate limited');
        const ack = args.at(-1);
        const answer: Ack<never> = { ok: false, error: { code: 'rate_limited', message: 'Too many requests; try again shortly.' } };
        if (typeof ack === 'function') ack(answer);
        // A refused send is owed: its device's later sends wait for it (docs/protocol.md, "Order").
        const conversationId = (args[0] as { conversationId?: unknown } | null)?.conversationId;
        if (event === 'conversation:send' && typeof conversationId === 'string') {
          this.lanes.refused(SendLanes.key(actor.deviceId, conversationId), SendLanes.identityOf(args[0]));
        }
        return;
      }
      // Without this, a client that sends an unknown event with an ack would wait for its timeout. A middleware, not
      // `onAny` (which runs before middlewares and so would answer past the drain's count: an unknown event then stayed
      // "under way" and held a SIGTERM for the whole grace period).
      if (typeof event !== 'string' || !KNOWN_COMMANDS.has(event)) {
        const ack = args.at(-1);
        const answer: Ack<never> = { ok: false, error: { code: 'invalid_payload', message: 'Unknown event.' } };
        if (typeof ack === 'function') ack(answer);
        return;
      }
      next();
    });
  }

  onModuleDestroy(): void {
    clearInterval(this.sweepTimer);
    this.stopListening?.();
  }

  handleDisconnect(socket: Socket): void {
    clearTimeout(this.expiryTimers.get(socket.id));
    this.expiryTimers.delete(socket.id);
    this.logger.log({ socketId: socket.id }, 'socket disconnected');
  }

  /** Resolves the handshake's token; undefined lets the socket in, an Error('unauthorized') refuses it (the client sees connect_error). */
  private async authenticate(socket: ParleySocket): Promise<Error | undefined> {
    const token: unknown = (socket.handshake.auth as { token?: unknown } | undefined)?.token;
    const session = await this.sessions.resolveSession(token);
    if (!session) {
      this.logger.debug({ socketId: socket.id }, 'handshake refused: no live session');
      return new Error('unauthorized');
    }
    const { actor } = session;
    socket.data.actor = actor;
    socket.data.sessionEndsAt = new Date(Math.min(session.expiresAt.getTime(), session.idleExpiresAt.getTime()));
    const joined = [rooms.user(actor.userId), rooms.device(actor.deviceId), rooms.session(actor.sessionId)];
    if (isStaff(actor)) joined.push(rooms.practiceStaff(actor.practiceId));
    await socket.join(joined);
    return undefined;
  }

  /** Checks the session when it is due to expire or go idle (or after the longest timer Node allows, then again). */
  private armExpiry(socket: ParleySocket, endsAt: number): void {
    const timer = setTimeout(() => void this.endIfExpired(socket, endsAt), Math.min(Math.max(endsAt - Date.now(), 0), MAX_TIMER_MS));
    this.expiryTimers.set(socket.id, timer);
  }

  private async endIfExpired(socket: ParleySocket, endsAt: number): Promise<void> {
    const actor = socket.data.actor;
    if (!actor || !socket.connected) return;
    // Not a use of the session: this check must not keep an idle session alive.
    const { reason, endsAt: nextEnd } = await this.sessions.status(actor).catch(() => ({ reason: null, endsAt: null }));
    if (reason === null) {
      // Not ended yet as the database sees it: used since (its idle time starts again), a timer that fired a moment
      // early, a failed lookup, or a session longer than one timer. Look again rather than leave the socket open past its end.
      if (socket.connected) this.armExpiry(socket, Math.max(nextEnd?.getTime() ?? endsAt, Date.now() + EXPIRY_RECHECK_MS));
      return;
    }
    this.end(socket, reason);
  }

  /** Tells the socket why its session ended, then closes it (the client does not reconnect). */
  private end(socket: ParleySocket, reason: SessionEnded['reason']): void {
    // Several paths may end the same socket (the notification, the sweep, the revoking node's own push): once is enough.
    if (!socket.connected) return;
    socket.emit('session:ended', { reason });
    socket.disconnect(true);
  }

  /**
   * Closes this node's sockets in `room` (a session's, device's or user's) whose session has ended, with the reason the
   * database gives: one query, made only when the node has sockets there. The local room only: every node hears the
   * notification and closes its own.
   */
  private async closeEndedIn(room: string): Promise<void> {
    const ids = this.server?.of('/').adapter.rooms.get(room);
    if (!ids || ids.size === 0) return;
    const sockets = [...ids].flatMap((id) => this.server?.of('/').sockets.get(id) ?? []);
    try {
      await this.endThoseEnded(sockets, 'database notification');
    } catch (error: unknown) {
      // The periodic sweep closes them instead, within SESSION_SWEEP_MS.
      this.logger.warn({ err: error }, 'session check after a notification failed');
    }
  }

  /** Tells and closes those of `sockets` whose session has ended, as the database says in one query for all of them. */
  private async endThoseEnded(sockets: ParleySocket[], why: string): Promise<void> {
    const statuses = await this.sessions.statuses([...new Set(sockets.flatMap((socket) => socket.data.actor?.sessionId ?? []))]);
    for (const socket of sockets) {
      const sessionId = socket.data.actor?.sessionId;
      const reason = sessionId ? statuses.get(sessionId)?.reason : null;
      if (!reason || !socket.connected) continue;
      this.logger.log({ socketId: socket.id, sessionId, reason }, `socket closed: its session ended (${why})`);
      this.end(socket, reason);
    }
  }

  /**
   * Closes this node's sockets whose session has ended, found with one query for all of them, whatever this node
   * was told: with the socket go its conversation rooms, so nothing more is relayed to it. Like the expiry timer,
   * the check is not use of the session.
   */
  private async sweep(): Promise<void> {
    const sockets = [...(this.server?.of('/').sockets.values() ?? [])];
    // A check still under way (a slow database) is not stacked on.
    if (this.isSweeping || sockets.length === 0) return;
    this.isSweeping = true;
    try {
      await this.endThoseEnded(sockets, 'periodic check');
    } catch (error: unknown) {
      this.logger.warn({ err: error }, 'session check of the sockets failed');
    } finally {
      this.isSweeping = false;
    }
  }
}

/** The room of the sockets a notification may end: a session ended, a device revoked, an account changed (deactivated). */
function roomOf({ kind, id }: Invalidation): string | undefined {
  if (kind === 'session_ended') return rooms.session(id);
  if (kind === 'device') return rooms.device(id);
  if (kind === 'user') return rooms.user(id);
  return undefined;
}
