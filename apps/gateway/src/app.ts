import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { Logger } from 'nestjs-pino';
import { existsSync } from 'node:fs';
import { AppModule, type AppDependencies } from './app.module.js';
import { HttpErrorFilter } from './common/http-error.filter.js';
import { ParleyIoAdapter } from './common/io.adapter.js';
import { securityHeaders } from './common/security-headers.js';

const MAX_HTTP_BODY = '64kb';

/** Builds the Nest application (HTTP routes, socket.io, the two web clients) without listening yet. */
export async function createApp(dependencies: AppDependencies): Promise<NestExpressApplication> {
  const { config } = dependencies;
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot(dependencies), {
    bufferLogs: true,
    bodyParser: false,
  });
  app.useLogger(app.get(Logger));
  app.useBodyParser('json', { limit: MAX_HTTP_BODY });
  app.useGlobalFilters(new HttpErrorFilter());
  const ioAdapter = new ParleyIoAdapter(app, config.allowedOrigins);
  if (config.redisUrl) await ioAdapter.connectToRedis(config.redisUrl, config.redisStreamName);
  app.useWebSocketAdapter(ioAdapter);
  app.disable('x-powered-by');
  app.use(securityHeaders);

  for (const [prefix, folder] of [['/staff', config.staffDist], ['/', config.patientDist]] as const) {
    if (!existsSync(folder)) dependencies.logger.warn({ folder }, 'web client not built; run `pnpm build`');
    app.useStaticAssets(folder, { prefix, index: 'index.html', fallthrough: true });
  }
  return app;
}
