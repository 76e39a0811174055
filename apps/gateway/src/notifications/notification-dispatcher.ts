import { Inject, Injectable, Logger, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { Clock } from '../common/clock.js';
import { RealtimePublisher } from '../common/realtime.publisher.js';
import { RecordService } from '../record/record.service.js';
import type { NewEntry } from '../record/record.types.js';
import { NOTIFICATION_CHANNELS, type NotificationChannel, type NotificationTarget } from './notification-channel.js';
import { NotificationsRepository, type NoticeContext } from './notifications.repository.js';
import { releaseTime } from './quiet-hours.js';

/** How often each node looks for notices held by quiet hours that are now due. */
export const HELD_NOTICE_SWEEP_MS = 30_000;
/** The most held notices one sweep sends. */
const SWEEP_BATCH = 200;
/** How long shutdown waits for the sends under way (a channel retrying after a 429 could take longer: it is dropped, and the claim with it is kept). */
const SHUTDOWN_WAIT_MS = 2_000;

/** The record system events a patient is told about while away: their question was picked up, closed, or a file was asked for. */
const NOTIFIED_EVENTS: ReadonlySet<string> = new Set(['assigned', 'closed', 'attachment.requested']);

/** Whom a notice goes to and what it may name: the practice's name only when the manager chose to show it. */
function targetOf(context: NoticeContext, conversationId: string): NotificationTarget {
  const { practiceId, patientUserId } = context;
  return { practiceId, patientUserId, conversationId, practiceName: context.settings.showPracticeName ? context.practiceName : null };
}

/** Whether an appended entry is one the patient should hear of while the app is closed: staff's message, or a notified event. */
export function isNoticeWorthy(entry: NewEntry): boolean {
  if (entry.message) return entry.message.senderRole !== 'patient';
  return entry.system !== undefined && NOTIFIED_EVENTS.has(entry.system.event);
}

/**
 * Tells a patient who is away that something came (docs/protocol.md, "Notifications"). Runs on the node that appended
 * the entry, after its COMMIT, off the message path (nothing here can delay or fail a send). The rules, in order:
 * 1. only entries the patient should see (`isNoticeWorthy`);
 * 2. only when none of the patient's devices has a live socket, on any node (the adapter's `fetchSockets`);
 * 3. at most one notice per patient and conversation until the patient connects again (a row claimed once, on any node);
 * 4. in the practice's quiet hours the notice is held until they end (a sweep on every node claims the due ones);
 * 5. the channels in order, until one sends: Web Push, then Notify. If none sends, the claim is released.
 */
@Injectable()
export class NotificationDispatcher implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger(NotificationDispatcher.name);
  private sweepTimer: NodeJS.Timeout | undefined;
  private isSweeping = false;
  /** Dispatches under way, so shutdown (and tests) can wait for them. */
  private readonly running = new Set<Promise<void>>();

  constructor(
    private readonly record: RecordService,
    private readonly realtime: RealtimePublisher,
    private readonly notices: NotificationsRepository,
    @Inject(NOTIFICATION_CHANNELS) private readonly channels: readonly NotificationChannel[],
    private readonly clock: Clock,
  ) {}

  onModuleInit(): void {
    this.record.onEntryStored((entry, stored) => {
      if (isNoticeWorthy(entry)) this.track(this.consider(entry.conversationId, stored.patientId));
    });
    this.sweepTimer = setInterval(() => this.track(this.sweepHeld()), HELD_NOTICE_SWEEP_MS);
    this.sweepTimer.unref();
  }

  async onModuleDestroy(): Promise<void> {
    clearInterval(this.sweepTimer);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.idle(), new Promise<void>((resolve) => (timer = setTimeout(resolve, SHUTDOWN_WAIT_MS)))]);
    clearTimeout(timer);
  }

  /** Resolves when the dispatches under way have finished. */
  async idle(): Promise<void> {
    while (this.running.size > 0) await Promise.all([...this.running]);
  }

  /** Sends the held notices now due (exposed for tests, which move the clock instead of waiting for the timer). */
  async sweepHeld(): Promise<void> {
    if (this.isSweeping) return;
    this.isSweeping = true;
    try {
      for (const notice of await this.notices.claimDue(this.clock.now(), SWEEP_BATCH)) {
        const context = await this.notices.contextOf(notice.conversationId);
        if (!context) continue;
        if (await this.isOnline(notice.patientUserId)) {
          // Back meanwhile: they see it in the app; the claim goes, so the next absence is told again.
          await this.notices.release(notice.patientUserId, notice.conversationId);
          continue;
        }
        await this.deliver(targetOf(context, notice.conversationId));
      }
    } finally {
      this.isSweeping = false;
    }
  }

  private async consider(conversationId: string, patientUserId: string): Promise<void> {
    // The patient comes with the stored entry (the record writer read it with the chain head) and their presence from
    // the adapter: while they have the app open (the usual case as staff reply) a stored entry costs no query here.
    if (await this.isOnline(patientUserId)) return;
    const context = await this.notices.contextOf(conversationId);
    if (!context) return;
    const now = this.clock.now();
    const dueAt = releaseTime(now, context.settings.quietHours, context.timeZone);
    if (!(await this.notices.claim(context.patientUserId, conversationId, context.practiceId, dueAt, now))) return;
    if (dueAt.getTime() > now.getTime()) {
      this.logger.log({ conversationId, dueAt: dueAt.toISOString() }, 'notice held for quiet hours');
      return;
    }
    await this.deliver(targetOf(context, conversationId));
  }

  /** Tries each channel in order until one sends; releases the claim when none did. */
  private async deliver(target: NotificationTarget): Promise<void> {
    for (const channel of this.channels) {
      try {
        if (await channel.notify(target)) {
          this.logger.log({ conversationId: target.conversationId, userId: target.patientUserId, channel: channel.name }, 'notice sent');
          return;
        }
      } catch (error) {
        this.logger.warn({ conversationId: target.conversationId, channel: channel.name, err: error }, 'notification channel failed');
      }
    }
    await this.notices.release(target.patientUserId, target.conversationId);
  }

  /** Whether any device of the patient has a socket on any node; when the other nodes cannot be asked, the patient counts as away. */
  private async isOnline(patientUserId: string): Promise<boolean> {
    try {
      return await this.realtime.isUserOnline(patientUserId);
    } catch (error) {
      this.logger.warn({ userId: patientUserId, err: error }, 'presence check failed: treating the patient as away');
      return false;
    }
  }

  /** Runs a dispatch off the caller's path: its failure is logged, never thrown. */
  private track(work: Promise<void>): void {
    const tracked = work
      .catch((error: unknown) => this.logger.error({ err: error }, 'notification dispatch failed'))
      .finally(() => this.running.delete(tracked));
    this.running.add(tracked);
  }
}
