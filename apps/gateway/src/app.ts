import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { existsSync } from 'node:fs';
import { AppModule, type AppDependencies } from './app.module.js';
import { HttpErrorFilter } from './common/http-error.filter.js';
import { coalesceWrites } from './common/coalesced-writes.js';
import { ParleyIoAdapter } from './common/io.adapter.js';
import { httpLogger, PinoNestLogger } from './common/logger.js';
import { securityHeaders } from './common/security-headers.js';
import { webClientMounts } from './common/web-client-files.js';
import { limitDatabaseQueue } from './database/sql.js';
import { DrainService } from './health/drain.service.js';
import { httpMetrics } from './metrics/http-metrics.js';
import { MetricsService } from './metrics/metrics.service.js';

const MAX_HTTP_BODY = '64kb';

/**
 * How long an idle keep-alive connection stays open (Node's default, stated). A proxy that reuses connections to the
 * gateway must drop its idle ones sooner, or a request it sends as the gateway closes one fails, and a POST is not
 * retried: infra/nginx/parley.conf's upstream `keepalive_timeout` is below it (docs/operations.md).
 */
export const HTTP_KEEP_ALIVE_MS = 5_000;

/** Builds the Nest application (HTTP routes, socket.io, the two web clients) without listening yet. */
export async function createApp(dependencies: AppDependencies): Promise<NestExpressApplication> {
  const { config } = dependencies;
  // How many queries may wait for one of the pool's connections before more are refused `rate_limited` (docs/operations.md).
  limitDatabaseQueue(dependencies.dataSource, config.dbQueueMax);
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot(dependencies), {
    bufferLogs: true,
    bodyParser: false,
  });
  app.useLogger(new PinoNestLogger(dependencies.logger));
  app.getHttpServer().keepAliveTimeout = HTTP_KEEP_ALIVE_MS;
  app.useBodyParser('json', { limit: MAX_HTTP_BODY });
  app.useGlobalFilters(new HttpErrorFilter());
  const ioAdapter = new ParleyIoAdapter(app, config.allowedOrigins);
  if (config.redisUrl) await ioAdapter.connectToRedis(config.redisUrl, config.redisStreamName);
  ioAdapter.onServerCreated((server) => {
    coalesceWrites(server);
    app.get(MetricsService).attach(server);
    app.get(DrainService).attach(server);
  });
  app.useWebSocketAdapter(ioAdapter);
  app.disable('x-powered-by');
  // Behind a load balancer the TCP peer is the balancer: believe X-Forwarded-For only from the configured proxies (per-IP rate limits).
  if (config.trustProxy !== false) app.set('trust proxy', config.trustProxy);
  app.use(httpMetrics(app.get(MetricsService)));
  app.use(securityHeaders);

  // The staff app on its own origin when STAFF_PUBLIC_URL is set, at /staff/ beside the patient app otherwise (the demo).
  if (!config.staffPublicUrl && config.nodeEnv === 'production') {
    dependencies.logger.warn('STAFF_PUBLIC_URL is not set: the staff app shares the patient app\'s origin (docs/operations.md, "Two origins")');
  }
  for (const { prefix, folder, handler } of webClientMounts(config)) {
    if (!existsSync(folder)) dependencies.logger.warn({ folder }, 'web client not built; run `pnpm build`');
    // Precompressed files (made by each app's build) by content negotiation, and each file's caching policy.
    app.use(prefix, handler);
  }
  // Requests the web clients' files did not answer: the API's routes.
  app.use(httpLogger(dependencies.logger));
  return app;
}
