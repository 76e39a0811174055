import type { NextFunction, Request, Response } from 'express';
import type { MetricsService } from './metrics.service.js';

/**
 * An Express middleware that counts each HTTP response by method, route pattern (`/api/audit`,
 * never the concrete path with its ids) and status; requests no route matched count as `unmatched`.
 */
export function httpMetrics(metrics: MetricsService): (request: Request, response: Response, next: NextFunction) => void {
  return (request, response, next) => {
    response.once('finish', () => {
      const route = (request.route as { path?: unknown } | undefined)?.path;
      metrics.httpResponded(request.method, typeof route === 'string' ? route : 'unmatched', response.statusCode);
    });
    next();
  };
}
