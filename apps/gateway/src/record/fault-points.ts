import { Inject, Injectable, Logger } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../config.js';

/** Where the record writer can be made to crash, for the fault-injection tests (`apps/gateway/test/faults`). */
export const FAULT_POINTS = ['record.before-commit', 'record.after-commit'] as const;
export type FaultPoint = (typeof FAULT_POINTS)[number];

/**
 * Test-only crash points. With `PARLEY_FAULTS=record.after-commit@40` the process kills itself
 * (SIGKILL: no shutdown hook runs, as in a power cut) the 40th time the record writer reaches that
 * point. Without the variable — always in production, where config refuses it — every `hit` is a
 * no-op, and the point costs one Map lookup.
 *
 * - `record.before-commit`: inside the batch's transaction, after its rows were inserted, before COMMIT.
 * - `record.after-commit`: after COMMIT, before any caller is acknowledged or anything is relayed.
 */
@Injectable()
export class FaultPoints {
  private readonly logger = new Logger(FaultPoints.name);
  private readonly remaining = new Map<string, number>();

  constructor(@Inject(APP_CONFIG) config: Pick<AppConfig, 'faults' | 'nodeEnv'>) {
    if (!config.faults || config.nodeEnv === 'production') return;
    for (const spec of config.faults.split(',')) {
      const [point, count] = spec.split('@') as [string, string];
      if (!(FAULT_POINTS as readonly string[]).includes(point)) throw new Error(`unknown fault point ${point}`);
      this.remaining.set(point, Number(count));
    }
    this.logger.warn({ faults: config.faults }, 'fault points armed: this process will crash on purpose');
  }

  /** Counts a pass through `point`; the armed pass kills the process. */
  hit(point: FaultPoint): void {
    const left = this.remaining.get(point);
    if (left === undefined) return;
    if (left > 1) {
      this.remaining.set(point, left - 1);
      return;
    }
    process.stderr.write(`fault point ${point} reached: killing the process\n`);
    process.kill(process.pid, 'SIGKILL');
  }
}
