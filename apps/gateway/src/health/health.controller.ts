import { Controller, Get, HttpCode, Res } from '@nestjs/common';
import type { Response } from 'express';
import { HealthService } from './health.service.js';

/** Probes for load balancers and orchestrators; they carry no data and need no sign-in. */
@Controller('health')
export class HealthController {
  constructor(private readonly health: HealthService) {}

  /** The process is up and its event loop turns. */
  @Get('live')
  @HttpCode(200)
  live(): { status: 'live' } {
    return { status: 'live' };
  }

  /** 200 when this node can serve traffic; 503 with the reasons when it cannot. */
  @Get('ready')
  async ready(@Res({ passthrough: true }) response: Response): Promise<{ status: string; reasons?: string[] }> {
    const reasons = await this.health.notReadyReasons();
    if (reasons.length === 0) return { status: 'ready' };
    response.status(503);
    return { status: 'not_ready', reasons };
  }
}
