import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../config.js';
import { AttachmentsService } from './attachments.service.js';

/** The longest wait between two sweeps: a removed upload is gone within TTL + this. */
const MAX_SWEEP_INTERVAL_MS = 10 * 60_000;

/**
 * Sweeps unreferenced uploads periodically (every tenth of their time to live, at most every 10 minutes). Every node
 * sweeps; the rows one node is removing are skipped by the others (`FOR UPDATE SKIP LOCKED`), so nodes never fight.
 * Tests call `AttachmentsService.sweep()` with a moved FakeClock instead of waiting.
 */
@Injectable()
export class AttachmentsSweeper implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(AttachmentsSweeper.name);
  private timer: NodeJS.Timeout | undefined;
  private isSweeping = false;

  constructor(
    private readonly attachments: AttachmentsService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  onApplicationBootstrap(): void {
    const interval = Math.min(Math.ceil(this.config.attachmentUnreferencedTtlMs / 10), MAX_SWEEP_INTERVAL_MS);
    this.timer = setInterval(() => void this.sweepOnce(), interval);
    // The timer alone must not keep a process (or a test run) alive.
    this.timer.unref();
  }

  onModuleDestroy(): void {
    clearInterval(this.timer);
  }

  private async sweepOnce(): Promise<void> {
    if (this.isSweeping) return;
    this.isSweeping = true;
    try {
      await this.attachments.sweep();
    } catch (error) {
      this.logger.warn({ err: error }, 'attachment sweep failed');
    } finally {
      this.isSweeping = false;
    }
  }
}
