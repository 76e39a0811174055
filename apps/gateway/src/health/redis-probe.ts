import { Inject, Injectable, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { createClient } from 'redis';
import { APP_CONFIG, type AppConfig } from '../config.js';
import { withTimeout } from './with-timeout.js';

const PING_TIMEOUT_MS = 1_000;

/**
 * Whether the deployment's Redis answers, on a connection of its own: the socket.io adapter's
 * client reconnects by itself, but a node whose Redis is gone cannot fan facts out to the others,
 * so it should leave the load balancer's pool until Redis is back.
 */
@Injectable()
export class RedisProbe implements OnModuleInit, OnModuleDestroy {
  private client: ReturnType<typeof createClient> | undefined;

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {}

  /** Whether this node uses Redis at all. */
  get isConfigured(): boolean {
    return this.config.redisUrl !== undefined;
  }

  onModuleInit(): void {
    this.connect();
  }

  onModuleDestroy(): void {
    this.client?.destroy();
    this.client = undefined;
  }

  /** True when Redis answered a PING within a second; always true when no Redis is configured. */
  async isReachable(): Promise<boolean> {
    if (!this.isConfigured) return true;
    const client = this.client;
    if (!client?.isReady) return false;
    const isAnswered = await withTimeout(client.ping(), PING_TIMEOUT_MS).then(
      (answer) => answer === 'PONG',
      () => false,
    );
    // A PING lost on a hung connection would leave every later reply one behind: start a new connection instead.
    if (!isAnswered && this.client === client) {
      client.destroy();
      this.connect();
    }
    return isAnswered;
  }

  private connect(): void {
    if (!this.config.redisUrl) return;
    const client = createClient({
      url: this.config.redisUrl,
      // Fail fast while disconnected (no offline queue) and keep retrying in the background, at most a second apart.
      disableOfflineQueue: true,
      socket: { connectTimeout: 2_000, reconnectStrategy: (retries) => Math.min(100 * (retries + 1), 1_000) },
    });
    // Errors are expected while Redis is down; readiness reports them, logs would only repeat them.
    client.on('error', () => undefined);
    this.client = client;
    void client.connect().catch(() => undefined);
  }
}
