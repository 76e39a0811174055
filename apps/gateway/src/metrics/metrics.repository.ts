import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { rows } from '../database/sql.js';
import { Clock } from '../common/clock.js';

/** A practice's queue as a scrape sees it. */
export interface QueueFigures {
  practiceId: string;
  waiting: number;
  longestWaitSeconds: number;
}

/** A practice's live work against its available clinicians' caps. */
export interface LoadFigures {
  practiceId: string;
  active: number;
  capacity: number;
}

/** The pg pool's counters. */
export interface PoolFigures {
  total: number;
  idle: number;
  waiting: number;
  max: number;
}

/** The pool TypeORM's postgres driver keeps (pg.Pool); only its counters are read. */
interface PgPoolCounters {
  totalCount: number;
  idleCount: number;
  waitingCount: number;
  options: { max?: number };
}

/** The queries behind the scrape-time metrics: aggregates only, on the queue's own indexes. */
@Injectable()
export class MetricsRepository {
  constructor(
    private readonly dataSource: DataSource,
    private readonly clock: Clock,
  ) {}

  async queues(): Promise<QueueFigures[]> {
    const queues = await rows<{ practice_id: string; waiting: number; longest: number }>(
      this.dataSource,
      `SELECT practice_id, count(*)::int AS waiting, GREATEST(extract(epoch FROM ($1::timestamptz - min(queued_at))), 0)::float8 AS longest
         FROM conversations WHERE status = 'waiting' GROUP BY practice_id`,
      [this.clock.now()],
    );
    return queues.map((row) => ({ practiceId: row.practice_id, waiting: row.waiting, longestWaitSeconds: row.longest }));
  }

  async loads(): Promise<LoadFigures[]> {
    const loads = await rows<{ practice_id: string; active: number; capacity: number }>(
      this.dataSource,
      `SELECT cc.practice_id,
              COALESCE(sum(cc.max_concurrent) FILTER (WHERE cc.availability = 'available'), 0)::int AS capacity,
              (SELECT count(*) FROM conversations c WHERE c.practice_id = cc.practice_id AND c.status IN ('assigned', 'on_hold'))::int AS active
         FROM clinician_capacity cc GROUP BY cc.practice_id`,
    );
    return loads.map((row) => ({ practiceId: row.practice_id, active: row.active, capacity: row.capacity }));
  }

  pool(): PoolFigures {
    const pool = (this.dataSource.driver as unknown as { master?: PgPoolCounters }).master;
    if (!pool) return { total: 0, idle: 0, waiting: 0, max: 0 };
    return { total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount, max: pool.options.max ?? 10 };
  }
}
