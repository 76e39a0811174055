import { Controller, Get, Headers, Inject, Res } from '@nestjs/common';
import type { Response } from 'express';
import { createHash, timingSafeEqual } from 'node:crypto';
import { DomainError } from '../common/domain-error.js';
import { APP_CONFIG, type AppConfig } from '../config.js';
import { MetricsService } from './metrics.service.js';

/**
 * `GET /metrics` for Prometheus. It names practices by id and shows load, so it is not public: it
 * answers 404 unless METRICS_TOKEN is set, and 401 unless the scrape sends `Authorization: Bearer <token>`.
 */
@Controller('metrics')
export class MetricsController {
  constructor(
    private readonly metrics: MetricsService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  @Get()
  async scrape(@Headers('authorization') authorization: string | undefined, @Res({ passthrough: true }) response: Response): Promise<string> {
    const token = this.config.metricsToken;
    if (!token) throw new DomainError('not_found');
    if (!isBearer(authorization, token)) throw new DomainError('unauthorized', 'Send the metrics token as a bearer token.');
    response.type(this.metrics.contentType).setHeader('Cache-Control', 'no-store');
    return this.metrics.render();
  }
}

/** Compares digests in constant time, so neither the token nor its length leaks through timing. */
export function isBearer(header: string | undefined, token: string): boolean {
  const match = /^Bearer (\S+)$/.exec(header ?? '');
  if (!match) return false;
  const digest = (value: string) => createHash('sha256').update(value).digest();
  return timingSafeEqual(digest(match[1]!), digest(token));
}
