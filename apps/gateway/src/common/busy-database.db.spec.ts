import type { ArgumentsHost } from '@nestjs/common';
import type { TestDatabase } from '@parley/testing';
import { DataSource, type QueryRunner } from 'typeorm';
import { freshDatabase } from '../../test/database.js';
import { dataSourceOptions } from '../database/data-source.js';
import { poolOf } from '../database/sql.js';
import { asDomainError } from './domain-error.js';
import { HttpErrorFilter } from './http-error.filter.js';
import { WsErrorFilter } from './ws-error.filter.js';

/**
 * A saturated connection pool (every connection busy for longer than `connectionTimeoutMillis`) is
 * answered `rate_limited` — "busy, try again shortly", which clients and the outbox retry — rather
 * than `internal`. The error is a real one from TypeORM's pg pool, not a hand-made copy.
 */
describe('a busy database', () => {
  let database: TestDatabase;
  let dataSource: DataSource;
  let holder: QueryRunner;
  let busy: unknown;

  beforeAll(async () => {
    database = await freshDatabase();
    const options = dataSourceOptions(database.url);
    dataSource = new DataSource({ ...options, extra: { ...options.extra, max: 1 } });
    await dataSource.initialize();
    // Holds the pool's only connection, so the next query waits for one and gives up.
    holder = dataSource.createQueryRunner();
    await holder.connect();
    // Only now the short wait: with it from the start, connecting itself took longer on a busy machine and failed the set-up.
    poolOf(dataSource)!.options.connectionTimeoutMillis = 200;
    busy = await dataSource.query('SELECT 1').then(
      () => null,
      (error: unknown) => error,
    );
  });

  afterAll(async () => {
    if (holder && !holder.isReleased) await holder.release();
    await dataSource?.destroy();
    await database?.drop();
  });

  it('is told apart from other failures', () => {
    expect(busy).toBeInstanceOf(Error);
    expect(asDomainError(busy)).toMatchObject({ code: 'rate_limited', message: 'The server is busy; try again shortly.' });
    expect(asDomainError(new Error('relation "x" does not exist'))).toBeNull();
  });

  it('answers a socket command rate_limited, and any other failure internal', () => {
    const answers: unknown[] = [];
    const host = () =>
      ({ getArgs: () => [{ id: 'socket-1' }, {}, (answer: unknown) => answers.push(answer), 'conversation:send'] }) as unknown as ArgumentsHost;
    const filter = new WsErrorFilter();

    filter.catch(busy, host());
    filter.catch(new Error('boom'), host());

    expect(answers).toEqual([
      { ok: false, error: { code: 'rate_limited', message: 'The server is busy; try again shortly.' } },
      { ok: false, error: { code: 'internal', message: 'Something went wrong on our side.' } },
    ]);
  });

  it('answers an HTTP route 429 rate_limited', () => {
    const sent: { status?: number; body?: unknown } = {};
    const response = { status: (status: number) => ((sent.status = status), response), json: (body: unknown) => (sent.body = body) };
    const host = { switchToHttp: () => ({ getResponse: () => response }) } as unknown as ArgumentsHost;

    new HttpErrorFilter().catch(busy, host);

    expect(sent).toEqual({ status: 429, body: { error: { code: 'rate_limited', message: 'The server is busy; try again shortly.' } } });
  });

  it('lets the held connection go on working, and the pool recovers once it is free', async () => {
    expect(await holder.query('SELECT 1 AS n')).toEqual([{ n: 1 }]);
    await holder.release();
    expect(await dataSource.query('SELECT 2 AS n')).toEqual([{ n: 2 }]);
  });
});
