import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';

const DATABASE_CHECK_TIMEOUT_MS = 2_000;

/** Whether this node can serve: the database answers and every migration is applied. */
@Injectable()
export class HealthService {
  constructor(private readonly dataSource: DataSource) {}

  /** The reasons this node is not ready; empty when it is. */
  async notReadyReasons(): Promise<string[]> {
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

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('timeout')), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
