import { Injectable, Logger, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import type { ListeningState } from './invalidated-cache.js';
import { InvalidationRepository, type ListenerConnection } from './invalidation.repository.js';

/** What changed, as the migration's triggers name it (database/migrations/1764870000000-invalidation-notify.ts). */
export type InvalidationKind = 'session' | 'session_ended' | 'device' | 'user' | 'conversation';
const KINDS: ReadonlySet<string> = new Set<InvalidationKind>(['session', 'session_ended', 'device', 'user', 'conversation']);

/** One notification: a row of this kind, by id, changed in a way a cache cares about. */
export interface Invalidation {
  kind: InvalidationKind;
  id: string;
}

/** The first reconnection waits this long, each next one twice as long, up to RECONNECT_MAX_MS. */
const RECONNECT_MIN_MS = 100;
const RECONNECT_MAX_MS = 5_000;

/**
 * Hears the database's change notifications on one dedicated connection per node and hands them to the caches
 * (docs/decisions/0006-cache-invalidation-listen-notify.md). While it is not listening (not yet connected, the
 * connection lost, reconnecting with backoff) `isListening` is false and every cache reads the database instead;
 * each (re)connection and each loss clears every cache (`onReset`), since notifications may have been missed.
 */
@Injectable()
export class InvalidationListener implements ListeningState, OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger(InvalidationListener.name);
  private readonly handlers = new Set<(invalidation: Invalidation) => void>();
  private readonly resetHandlers = new Set<() => void>();
  private connection: ListenerConnection | undefined;
  private listening = false;
  private isStopped = false;
  private failures = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  /** The connection attempt under way, which a shutdown waits for (its connection is then closed, not kept). */
  private connecting: Promise<void> | undefined;

  constructor(private readonly repository: InvalidationRepository) {}

  get isListening(): boolean {
    return this.listening;
  }

  /** The listening connection's backend process id (undefined while not listening): for tests and diagnostics. */
  get backendPid(): number | undefined {
    return this.listening ? this.connection?.pid : undefined;
  }

  /** Calls `handler` for each notification, synchronously as it is read. Returns the unsubscribe. */
  onInvalidation(handler: (invalidation: Invalidation) => void): () => void {
    this.handlers.add(handler);
    return () => this.handlers.delete(handler);
  }

  /** Calls `handler` whenever everything cached must be forgotten: on each (re)connection and each loss. */
  onReset(handler: () => void): () => void {
    this.resetHandlers.add(handler);
    return () => this.resetHandlers.delete(handler);
  }

  /** The first attempt is awaited, so a node serves its first command from a listening cache; a failure only schedules the next. */
  async onModuleInit(): Promise<void> {
    await this.attempt();
  }

  async onModuleDestroy(): Promise<void> {
    this.isStopped = true;
    clearTimeout(this.retryTimer);
    this.listening = false;
    await this.connecting;
    await this.connection?.close();
    this.connection = undefined;
  }

  private attempt(): Promise<void> {
    this.connecting = this.connect().finally(() => (this.connecting = undefined));
    return this.connecting;
  }

  private async connect(): Promise<void> {
    let connection: ListenerConnection | undefined;
    try {
      connection = await this.repository.listen(
        (payload) => this.deliver(payload),
        (error) => this.lost(connection, error),
      );
    } catch (error: unknown) {
      this.logger.warn({ err: error, failures: this.failures + 1 }, 'cannot listen for cache invalidations; caches bypassed');
      this.scheduleReconnect();
      return;
    }
    if (this.isStopped) {
      await connection.close();
      return;
    }
    this.connection = connection;
    this.failures = 0;
    // Whatever changed before LISTEN took effect was not heard: start empty, then trust the notifications.
    this.reset();
    this.listening = true;
    this.logger.log({ pid: connection.pid }, 'listening for cache invalidations');
  }

  private lost(connection: ListenerConnection | undefined, error?: Error): void {
    if (this.isStopped || (connection && connection !== this.connection)) return;
    this.listening = false;
    this.connection = undefined;
    this.reset();
    this.logger.warn({ err: error }, 'cache invalidation listener lost; caches bypassed until it listens again');
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.isStopped) return;
    const delay = Math.min(RECONNECT_MIN_MS * 2 ** this.failures, RECONNECT_MAX_MS);
    this.failures += 1;
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => void this.attempt(), delay);
    this.retryTimer.unref();
  }

  private reset(): void {
    for (const handler of this.resetHandlers) handler();
  }

  private deliver(payload: string): void {
    const separator = payload.indexOf(':');
    const kind = payload.slice(0, separator);
    if (separator < 0 || !KINDS.has(kind)) {
      this.logger.warn({ kind: kind.slice(0, 32) }, 'unknown cache invalidation ignored');
      return;
    }
    const invalidation: Invalidation = { kind: kind as InvalidationKind, id: payload.slice(separator + 1) };
    for (const handler of this.handlers) {
      try {
        handler(invalidation);
      } catch (error: unknown) {
        this.logger.error({ err: error, kind: invalidation.kind }, 'cache invalidation handler failed');
      }
    }
  }
}
