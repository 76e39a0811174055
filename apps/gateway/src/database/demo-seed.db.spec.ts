import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DataSource } from 'typeorm';
import type { TestDatabase } from '@parley/testing';
import { freshDatabase } from '../../test/database.js';
import { openDatabase } from './data-source.js';
import { hashInvitationCode, newInvitationCode, seedDemoPractice } from './demo-seed.js';

describe('seedDemoPractice', () => {
  let database: TestDatabase;
  let dataSource: DataSource;
  let folder: string;

  beforeAll(async () => {
    database = await freshDatabase();
    dataSource = await openDatabase(database.url);
    folder = await mkdtemp(join(tmpdir(), 'parley-seed-'));
  });

  afterAll(async () => {
    await dataSource.destroy();
    await database.drop();
    await rm(folder, { recursive: true, force: true });
  });

  const count = async (table: string) => (await dataSource.query(`SELECT count(*)::int AS n FROM ${table}`))[0].n as number;

  it('seeds one manager and two clinicians with set-up codes and a patient to invite, then nothing on a second run', async () => {
    const file = join(folder, 'demo.json');

    const first = await seedDemoPractice(dataSource, file);
    const second = await seedDemoPractice(dataSource, file);

    expect(first?.staff.map((member) => member.roles)).toEqual([['manager'], ['clinician'], ['clinician']]);
    expect(second).toEqual(first);
    expect(await count('practices')).toBe(1);
    expect(await count('users')).toBe(3);
    expect(await count('invitations')).toBe(3);
    expect(await dataSource.query(`SELECT practice_phone FROM practice_settings`)).toEqual([{ practice_phone: '01632 960000' }]);
    expect(new Set(first!.staff.map((member) => member.code)).size).toBe(3);
    // The patient's invitation is made by a staff client (its code never reaches the server): only whom to invite is seeded.
    expect(first!.patient).toEqual({ displayName: 'Chris Taylor', nhsNumber: '9990000018', dateOfBirth: '1984-05-17' });
  });

  it('stores only the hashes of the codes, and keeps the codes in an owner-only file', async () => {
    const file = join(folder, 'demo.json');
    const credentials = await seedDemoPractice(dataSource, file);
    const codes = credentials!.staff.map((member) => member.code);

    const rows: { code_hash: Buffer }[] = await dataSource.query(`SELECT code_hash FROM invitations`);
    const dump = JSON.stringify(await dataSource.query(`SELECT * FROM invitations`));

    expect(rows.map((row) => row.code_hash.toString('hex')).sort()).toEqual(codes.map((c) => hashInvitationCode(c).toString('hex')).sort());
    for (const each of codes) expect(dump).not.toContain(each);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(JSON.parse(await readFile(file, 'utf8')).staff[0].code).toBe(codes[0]);
  });
});

describe('newInvitationCode', () => {
  it('makes codes of unambiguous characters that differ each time', () => {
    const codes = new Set(Array.from({ length: 200 }, () => newInvitationCode()));

    expect(codes.size).toBe(200);
    for (const code of codes) expect(code).toMatch(/^[A-HJKMNP-Z2-9]{4}-[A-HJKMNP-Z2-9]{4}-[A-HJKMNP-Z2-9]{4}$/);
  });

  it('hashes a code the same however the patient types it', () => {
    expect(hashInvitationCode('ab2c-def3-gh45')).toEqual(hashInvitationCode('AB2CDEF3GH45'));
  });
});
