import type { TestDatabase } from '@parley/testing';
import type { DataSource } from 'typeorm';
import { freshDatabase } from '../../test/database.js';
import { integers, packed, uuids } from './array-parameters.js';
import { openDatabase } from './data-source.js';
import { rows } from './sql.js';

describe('array parameters (as PostgreSQL reads them back)', () => {
  let database: TestDatabase;
  let dataSource: DataSource;

  beforeAll(async () => {
    database = await freshDatabase();
    dataSource = await openDatabase(database.url);
  });

  afterAll(async () => {
    await dataSource.destroy();
    await database.drop();
  });

  it('cuts the packed bytes back into each value, an empty one and a null one included', async () => {
    const values = [Buffer.from([1, 2, 3]), null, Buffer.alloc(0), Buffer.from('\\x00,"{}'), Buffer.alloc(300, 7)];
    const [bytes, starts, lengths] = packed(values);

    const back = await rows<{ value: Buffer | null }>(
      dataSource,
      `SELECT substring($1::bytea FROM v.at FOR v.len) AS value FROM unnest($2::int[], $3::int[]) WITH ORDINALITY AS v(at, len, ord) ORDER BY v.ord`,
      [bytes, starts, lengths],
    );

    expect(back.map((row) => row.value)).toEqual(values);
    // Back to back, nothing between them and nothing for the null.
    expect(bytes).toEqual(Buffer.concat(values.filter((value) => value !== null)));
  });

  it('writes UUID and integer literals PostgreSQL reads as the same values, nulls kept', async () => {
    const ids = ['2f1b7c2e-9a51-4c1e-8f3a-0d2b6f1e9c47', null, '00000000-0000-4000-8000-000000000000'];
    const numbers = [0, null, -5, Number.MAX_SAFE_INTEGER];

    const [row] = await rows<{ ids: (string | null)[]; numbers: (string | null)[] }>(dataSource, `SELECT $1::uuid[] AS ids, $2::bigint[]::text[] AS numbers`, [
      uuids(ids),
      integers(numbers),
    ]);

    expect(row!.ids).toEqual(ids);
    expect(row!.numbers).toEqual(numbers.map((value) => (value === null ? null : String(value))));
  });

  it('refuses what is not a UUID or not a safe integer rather than writing it into the literal', () => {
    expect(() => uuids(['2f1b7c2e-9a51-4c1e-8f3a-0d2b6f1e9c47', "x'}, {"])).toThrow(TypeError);
    expect(() => uuids(['not-a-uuid'])).toThrow(/not a UUID/);
    expect(() => integers([1, 1.5])).toThrow(/not an integer/);
    expect(() => integers([Number.MAX_SAFE_INTEGER + 1])).toThrow(TypeError);
    expect(() => integers([Number.NaN])).toThrow(TypeError);
  });
});
