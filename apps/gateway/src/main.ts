import 'reflect-metadata';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { join } from 'node:path';
import type { DataSource } from 'typeorm';
import { createApp } from './app.js';
import { ShiftedClock } from './common/clock.js';
import { createLogger } from './common/logger.js';
import { ConfigError, loadConfig, type AppConfig } from './config.js';
import { openDatabase } from './database/data-source.js';
import { seedDemoPractice, type DemoCredentials } from './database/demo-seed.js';
import { EmbeddedPostgres, EmbeddedPostgresError } from './database/embedded-postgres.js';
import { DrainService } from './health/drain.service.js';

/** At most this long (and half the shutdown grace) for the commands under way to be answered before sockets close. */
const MAX_DRAIN_MS = 5_000;

/** Everything started so far, stopped in reverse order on shutdown or on a failed start. */
interface Running {
  embedded?: EmbeddedPostgres;
  dataSource?: DataSource;
  app?: NestExpressApplication;
}

async function main(): Promise<void> {
  let config: AppConfig;
  try {
    config = loadConfig();
  } catch (error) {
    return fail(error instanceof ConfigError ? error.message : String(error));
  }
  const logger = createLogger(config.logLevel);
  const running: Running = {};
  try {
    let databaseUrl = config.databaseUrl;
    if (!databaseUrl) {
      running.embedded = new EmbeddedPostgres({
        dataDir: join(config.dataDir, 'postgres'),
        port: config.embeddedPgPort,
        onLog: (line) => logger.debug({ component: 'embedded-postgres' }, line),
        onWarn: (message) => logger.warn({ component: 'embedded-postgres' }, message),
      });
      await running.embedded.start();
      databaseUrl = running.embedded.url;
    }
    running.dataSource = await openDatabase(databaseUrl).catch((error: unknown) => {
      throw new StartError(describeDatabaseError(error, databaseUrl));
    });
    const demo = config.seedDemo ? await seedDemoPractice(running.dataSource, join(config.dataDir, 'demo-credentials.json')) : undefined;
    const clock = config.testClockStart ? new ShiftedClock(config.testClockStart) : undefined;
    if (clock) logger.warn({ now: clock.now().toISOString() }, 'test clock in use (PARLEY_TEST_CLOCK)');
    running.app = await createApp({ config, dataSource: running.dataSource, logger, clock });
    await running.app.listen(config.port, config.host).catch((error: NodeJS.ErrnoException) => {
      throw new StartError(
        error.code === 'EADDRINUSE'
          ? `port ${config.port} is already in use (set PORT to another one)`
          : `cannot listen on ${config.host}:${config.port}: ${error.code ?? error.message}`,
      );
    });
    const address = running.app.getHttpServer().address();
    const port = typeof address === 'object' && address ? address.port : config.port;
    logger.info({ port, database: running.embedded ? 'embedded' : 'external' }, 'gateway ready');
    printBanner(config, port, running.embedded?.url, demo);
    onShutdownSignal(async (signal) => {
      logger.info({ signal }, 'shutting down: draining sockets and requests');
      const forced = setTimeout(() => {
        logger.error('shutdown grace period ran out; exiting');
        process.exit(1);
      }, config.shutdownGraceMs);
      // Drain first (not ready, no new connections, answer what is under way, send clients elsewhere), then stop.
      await running.app
        ?.get(DrainService)
        .drain(Math.min(MAX_DRAIN_MS, config.shutdownGraceMs / 2))
        .catch((error: unknown) => logger.warn({ err: error }, 'drain failed'));
      await stop(running);
      clearTimeout(forced);
      logger.info('stopped cleanly');
      logger.flush();
      process.exit(0);
    });
  } catch (error) {
    await stop(running).catch(() => undefined);
    if (error instanceof StartError || error instanceof EmbeddedPostgresError) return fail(error.message);
    logger.fatal({ err: error }, 'start failed');
    return fail(`start failed: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/** A start-up failure with a message fit to show an operator as it is. */
class StartError extends Error {}

async function stop(running: Running): Promise<void> {
  // Nest closes the HTTP server and socket.io (clients reconnect elsewhere), then destroys the pool.
  if (running.app) await running.app.close();
  if (running.dataSource?.isInitialized) await running.dataSource.destroy();
  if (running.embedded) await running.embedded.stop();
}

function onShutdownSignal(handler: (signal: NodeJS.Signals) => Promise<void>): void {
  let isStopping = false;
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => {
      if (isStopping) return;
      isStopping = true;
      void handler(signal);
    });
  }
}

function describeDatabaseError(error: unknown, url: string): string {
  const where = safeHost(url);
  const code = (error as { code?: string }).code;
  if (code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EHOSTUNREACH' || code === 'ETIMEDOUT') {
    return `cannot reach the database at ${where} (${code})`;
  }
  const message = error instanceof Error ? error.message : String(error);
  if (/timeout/i.test(message)) return `cannot reach the database at ${where} (timed out)`;
  return `database at ${where} refused the start: ${message.split('\n')[0]}`;
}

/** host:port/database of a URL, without the credentials. */
function safeHost(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.hostname}:${parsed.port || 5432}${parsed.pathname}`;
  } catch {
    return '(unparsable DATABASE_URL)';
  }
}

function printBanner(config: AppConfig, port: number, embeddedUrl: string | undefined, demo: DemoCredentials | undefined): void {
  const base = config.publicUrl ?? `http://${config.host === '0.0.0.0' ? 'localhost' : config.host}:${port}`;
  const lines = [
    '',
    'Parley is running.',
    `  Patient app:  ${base}/`,
    `  Staff app:    ${config.staffPublicUrl ? `${config.staffPublicUrl}/ (its own origin)` : `${base}/staff/`}`,
    `  Health:       ${base}/health/ready`,
    `  Database:     ${embeddedUrl ? `embedded PostgreSQL in ${join(config.dataDir, 'postgres')}, ${embeddedUrl}` : 'DATABASE_URL'}`,
  ];
  if (demo)
    lines.push('', `Demo practice ${demo.practice.name} (${demo.practice.odsCode}): one-time codes in ${join(config.dataDir, 'demo-credentials.json')}`);
  lines.push('', 'Stop with Ctrl+C.', '');
  process.stdout.write(lines.join('\n'));
}

function fail(message: string): void {
  process.stderr.write(`parley: ${message}\n`);
  process.exitCode = 1;
}

void main();
