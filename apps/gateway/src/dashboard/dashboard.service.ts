import { Injectable } from '@nestjs/common';
import type { Dashboard } from '@parley/protocol';
import { DateTime } from 'luxon';
import type { Actor } from '../common/actor.js';
import { Clock } from '../common/clock.js';
import { requireRole } from '../common/require-role.js';
import { RoutingService } from '../routing/routing.service.js';
import { DashboardRepository } from './dashboard.repository.js';

/**
 * The manager's dashboard: the live queue snapshot (the same one `queue:updated` pushes) plus today's
 * volumes and waits per local hour. Clients keep it live from `queue:updated` and re-read this for the
 * charts (see docs/protocol.md): no extra fan-out on every queue change.
 */
@Injectable()
export class DashboardService {
  constructor(
    private readonly queue: RoutingService,
    private readonly days: DashboardRepository,
    private readonly clock: Clock,
  ) {}

  /** The caller's practice's dashboard. @throws DomainError `forbidden` (not a manager) */
  async dashboard(actor: Actor): Promise<Dashboard> {
    requireRole(actor, 'manager');
    const now = this.clock.now();
    const timeZone = await this.days.timeZoneOf(actor.practiceId);
    const dayStart = DateTime.fromJSDate(now, { zone: timeZone }).startOf('day');
    const [queue, day] = await Promise.all([
      this.queue.snapshot(actor),
      this.days.day(actor.practiceId, dayStart.toJSDate(), dayStart.plus({ days: 1 }).toJSDate(), timeZone),
    ]);
    const oldest = queue.waiting.reduce((min, entry) => Math.min(min, Date.parse(entry.waitingSince)), Infinity);
    return {
      practiceId: actor.practiceId,
      timeZone,
      generatedAt: now.toISOString(),
      queue,
      waitingCount: queue.waiting.length,
      longestWaitingSeconds: Number.isFinite(oldest) ? Math.max(0, Math.round((now.getTime() - oldest) / 1000)) : 0,
      today: day.totals,
      hours: day.hours,
    };
  }
}
