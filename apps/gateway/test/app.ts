import 'reflect-metadata';
import type { NestExpressApplication } from '@nestjs/platform-express';
import type { DataSource } from 'typeorm';
import { createApp } from '../src/app.js';
import type { Clock } from '../src/common/clock.js';
import { createLogger } from '../src/common/logger.js';
import { loadConfig, type AppConfig } from '../src/config.js';
import { openDatabase } from '../src/database/data-source.js';
import { InvalidationListener, type Invalidation } from '../src/invalidation/invalidation.listener.js';
import { freshDatabase } from './database.js';

/** The gateway booted in-process on port 0 against a fresh, migrated database. */
export interface TestApp {
  app: NestExpressApplication;
  dataSource: DataSource;
  config: AppConfig;
  url: string;
  close(): Promise<void>;
}

/**
 * Boots the gateway on a fresh database (migrated already: the gateway finds no migration pending), or on
 * `env.DATABASE_URL` (a second node of another test app, which then owns and drops the database); pass `clock` (a
 * FakeClock) to move time.
 */
export async function startTestApp(env: Record<string, string> = {}, clock?: Clock): Promise<TestApp> {
  const database = env['DATABASE_URL'] ? { url: env['DATABASE_URL'], drop: async () => undefined } : await freshDatabase({ migrated: true });
  const config = loadConfig({ PORT: '0', LOG_LEVEL: 'silent', NODE_ENV: 'test', ...env, DATABASE_URL: database.url });
  const dataSource = await openDatabase(database.url);
  const app = await createApp({ config, dataSource, logger: createLogger(config.logLevel), clock });
  await app.listen(0, '127.0.0.1');
  const address = app.getHttpServer().address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    app,
    dataSource,
    config,
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      await app.close();
      if (dataSource.isInitialized) await dataSource.destroy();
      await database.drop();
    },
  };
}

/** The id of the session a token opened (the database keeps only the token's hash). */
export const sessionIdOf = async (node: TestApp, token: string): Promise<string> =>
  (await node.dataSource.query(`SELECT id FROM sessions WHERE token_hash = sha256(convert_to($1, 'UTF8'))`, [token]))[0].id as string;

/**
 * When `node` hears the next notification of this kind (about the row `id`, if given), as its caches do (synchronously
 * as it is read; they listen first). A test that edits a cached row in the database awaits it before the next command,
 * whose answer otherwise races the notification (docs/decisions/0006-cache-invalidation-listen-notify.md).
 */
export function heardOn(node: TestApp, kind: Invalidation['kind'], id?: string): Promise<number> {
  return new Promise((resolve) => {
    const stop = node.app.get(InvalidationListener).onInvalidation((invalidation) => {
      if (invalidation.kind !== kind || (id !== undefined && invalidation.id !== id)) return;
      stop();
      resolve(Date.now());
    });
  });
}
