import { pino } from 'pino';
import { QueryFailedError } from 'typeorm';
import { PinoNestLogger, safeError } from './logger.js';

const NHS_NUMBER = '9434765919';

/** What pg throws for a duplicate key, and TypeORM wraps with the query and its parameters. */
function aDuplicateKeyFailure(): QueryFailedError {
  const driverError = Object.assign(new Error('duplicate key value violates unique constraint "UQ_users_nhs_number"'), {
    code: '23505',
    severity: 'ERROR',
    detail: `Key (nhs_number)=(${NHS_NUMBER}) already exists.`,
    table: 'users',
  });
  return new QueryFailedError('INSERT INTO users (nhs_number, date_of_birth) VALUES ($1, $2)', [NHS_NUMBER, '1984-03-02'], driverError);
}

/** One log line of a logger with `serializers`, as JSON text. */
function logLine(serializers: pino.LoggerOptions['serializers'], object: object): string {
  const lines: string[] = [];
  const logger = pino({ serializers }, { write: (line: string) => lines.push(line) });
  logger.error(object, 'failed');
  return lines.join('');
}

describe('safeError', () => {
  it('keeps the class, code, message and stack of a failed query and drops its query, parameters and driver detail', () => {
    const failure = aDuplicateKeyFailure();

    const logged = safeError(failure);

    expect(logged).toEqual({ type: 'QueryFailedError', code: '23505', message: failure.message, stack: failure.stack });
    expect(JSON.stringify(logged)).not.toContain(NHS_NUMBER);
  });

  it("gives the same through pino-http, which hands it pino's serialised error", () => {
    const line = logLine({ err: pino.stdSerializers.wrapErrorSerializer(safeError) }, { err: aDuplicateKeyFailure() });

    expect(JSON.parse(line).err).toMatchObject({ type: 'QueryFailedError', code: '23505', message: expect.stringContaining('duplicate key') });
    expect(Object.keys(JSON.parse(line).err).sort()).toEqual(['code', 'message', 'stack', 'type']);
    expect(line).not.toContain(NHS_NUMBER);
    expect(line).not.toContain('1984-03-02');
    expect(line).not.toContain('INSERT');
  });

  it('cuts the value PostgreSQL quotes in a message out of the message and the stack of a database error', () => {
    const failure = new QueryFailedError(
      'SELECT 1 WHERE id = $1',
      [NHS_NUMBER],
      Object.assign(new Error(`invalid input syntax for type uuid: "${NHS_NUMBER}"`), { code: '22P02' }),
    );

    const logged = safeError(failure) as { message: string; stack: string };

    expect(logged.message).toBe('invalid input syntax for type uuid: "[value]"');
    expect(logged.stack).toContain('QueryFailedError: invalid input syntax for type uuid: "[value]"');
    expect(JSON.stringify(logged)).not.toContain(NHS_NUMBER);
  });

  it('keeps a plain error as it is, code included, and names its class', () => {
    const error = Object.assign(new TypeError('cannot read "x"'), { code: 'ERR_X', payload: { secret: 'kept out' } });

    expect(safeError(error)).toEqual({ type: 'TypeError', code: 'ERR_X', message: 'cannot read "x"', stack: error.stack });
  });

  it('logs only the type of a thrown value that is not an object', () => {
    expect(safeError(`NHS ${NHS_NUMBER}`)).toEqual({ type: 'string', message: '' });
    expect(safeError(null)).toEqual({ type: 'null', message: '' });
  });
});

describe('PinoNestLogger', () => {
  function lines(write: (logger: PinoNestLogger) => void): Record<string, unknown>[] {
    const written: string[] = [];
    write(new PinoNestLogger(pino({ level: 'info' }, { write: (line: string) => written.push(line) })));
    return written.map((line) => JSON.parse(line) as Record<string, unknown>);
  }

  it("writes a Nest Logger's fields, message and context as one pino line", () => {
    const [line] = lines((logger) => logger.log({ unanswered: 3 }, 'drained', 'Drain'));

    expect(line).toMatchObject({ level: 30, context: 'Drain', unanswered: 3, msg: 'drained' });
  });

  it('writes a plain message with its context, and one without', () => {
    const written = lines((logger) => {
      logger.warn('listening again', 'Invalidation');
      logger.log('started');
    });

    expect(written).toEqual([
      expect.objectContaining({ level: 40, context: 'Invalidation', msg: 'listening again' }),
      expect.objectContaining({ level: 30, msg: 'started' }),
    ]);
    expect(written[1]).not.toHaveProperty('context');
  });

  it("logs an error through the safe serialiser and takes Nest's exception handlers' (message, stack, context) form", () => {
    const failure = new Error('boom');
    const written = lines((logger) => {
      logger.error(failure, 'Records');
      logger.error('Unhandled', 'Error: Unhandled\n    at somewhere (file.js:1:1)', 'ExceptionsHandler');
    });

    expect(written[0]).toMatchObject({ level: 50, context: 'Records', err: { message: 'boom' } });
    expect(written[1]).toMatchObject({
      level: 50,
      context: 'ExceptionsHandler',
      err: { message: 'Unhandled', stack: expect.stringContaining('at somewhere') },
    });
  });

  it('writes nothing below the level', () => {
    expect(lines((logger) => logger.debug('detail', 'Records'))).toEqual([]);
  });
});
