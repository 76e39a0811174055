import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { DrainService } from './drain.service.js';
import { RedisProbe } from './redis-probe.js';
import { withTimeout } from './with-timeout.js';

const DATABASE_CHECK_TIMEOUT_MS = 2_000;

/** Whether this node can serve: not draining, the database answers with every migration applied, and Redis (when configured) answers. */
@Injectable()
export class HealthService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly redis: RedisProbe,
    private readonly drain: DrainService,
  ) {}

  /** The reasons this node is not ready; empty when it is. */
  async notReadyReasons(): Promise<string[]> {
    if (this.drain.isDraining) return ['draining'];
    const [database, isRedisReachable] = await Promise.all([this.databaseReasons(), this.redis.isReachable()]);
    return isRedisReachable ? database : [...database, 'redis_unreachable'];
  }

  private async databaseReasons(): Promise<string[]> {
    if (!this.dataSource.isInitialized) return ['database_closed'];
    try {
      await withTimeout(this.dataSource.query('SELECT 1'), DATABASE_CHECK_TIMEOUT_MS);
    } catch {
      return ['database_unreachable'];
    }
    const hasPending = await withTimeout(this.dataSource.showMigrations(), DATABASE_CHECK_TIMEOUT_MS).catch(() => true);
    return hasPending ? ['migrations_pending'] : [];
  }
}
