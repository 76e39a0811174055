import { randomBytes, randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import type { TestDatabase } from '@parley/testing';
import { freshDatabase } from '../../test/database.js';
import { dataSourceOptions, MIGRATIONS, openDatabase } from './data-source.js';

/** Undoes migrations, newest first, until the one with this timestamp is undone: later migrations never shift the target. */
async function undoThrough(migrated: DataSource, timestamp: number): Promise<void> {
  const isApplied = async () => (await migrated.query(`SELECT 1 FROM migrations WHERE timestamp = $1`, [timestamp])).length > 0;
  while (await isApplied()) await migrated.undoLastMigration({ transaction: 'all' });
}

describe('migrations', () => {
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

  const tables = async () =>
    (await dataSource.query(`SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1`)).map(
      (row: { table_name: string }) => row.table_name,
    );
  const insertPractice = (odsCode = `P${Math.floor(Math.random() * 1e6)}`) =>
    dataSource.query(`INSERT INTO practices (id, ods_code, name, time_zone) VALUES ($1, $2, 'A practice', 'Europe/London') RETURNING id`, [
      randomUUID(),
      odsCode,
    ]);

  it('creates the tables and records every migration as applied', async () => {
    const expected = ['conversation_envelopes', 'conversations', 'devices', 'invitations', 'migrations', 'practices', 'receipts', 'record_entries', 'users'];

    expect(await tables()).toEqual(expect.arrayContaining(expected));
    expect(await dataSource.showMigrations()).toBe(false);
    expect(await dataSource.query(`SELECT count(*)::int AS n FROM migrations`)).toEqual([{ n: MIGRATIONS.length }]);
  });

  it('is a no-op when run again', async () => {
    const again = await openDatabase(database.url);

    expect(await again.query(`SELECT count(*)::int AS n FROM migrations`)).toEqual([{ n: MIGRATIONS.length }]);
    await again.destroy();
  });

  it('refuses a role outside the closed set and a patient who is also staff', async () => {
    const [practice] = await insertPractice();
    const insertUser = (roles: string[]) =>
      dataSource.query(`INSERT INTO users (id, practice_id, roles, display_name) VALUES ($1, $2, $3, 'Someone')`, [randomUUID(), practice.id, roles]);

    await expect(insertUser(['admin'])).rejects.toThrow(/check constraint/);
    await expect(insertUser([])).rejects.toThrow(/check constraint/);
    await expect(insertUser(['patient', 'clinician'])).rejects.toThrow(/check constraint/);
    await expect(insertUser(['manager', 'clinician'])).resolves.toBeDefined();
  });

  it('refuses public keys that are not 32 bytes', async () => {
    const [practice] = await insertPractice();
    const userId = randomUUID();
    await dataSource.query(`INSERT INTO users (id, practice_id, roles, display_name) VALUES ($1, $2, '{clinician}', 'Dr A')`, [userId, practice.id]);
    const insertDevice = (signKeyLength: number) =>
      dataSource.query(`INSERT INTO devices (id, user_id, label, sign_public_key, box_public_key) VALUES ($1, $2, 'laptop', $3, $4)`, [
        randomUUID(),
        userId,
        Buffer.alloc(signKeyLength),
        Buffer.alloc(32),
      ]);

    await expect(insertDevice(31)).rejects.toThrow(/check constraint/);
    await expect(insertDevice(32)).resolves.toBeDefined();
  });

  it('refuses an ODS code that is not upper-case letters and digits', async () => {
    await expect(insertPractice('y00001; drop')).rejects.toThrow(/check constraint/);
  });

  it('reverts every migration cleanly and applies them again', async () => {
    const scratch = await freshDatabase();
    const migrated = await openDatabase(scratch.url);

    for (let i = 0; i < MIGRATIONS.length; i += 1) await migrated.undoLastMigration({ transaction: 'all' });
    const remaining = await migrated.query(`SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'`);
    await migrated.runMigrations({ transaction: 'all' });
    const pending = await migrated.showMigrations();

    expect(remaining).toEqual([{ table_name: 'migrations' }]);
    expect(pending).toBe(false);
    await migrated.destroy();
    await scratch.drop();
  });

  it('moves v1 data to invitation-bound trust: pending patient codes expire, v1 staff certificates go, the rest is kept', async () => {
    const scratch = await freshDatabase();
    const migrated = await openDatabase(scratch.url);
    await undoThrough(migrated, 1764800000000); // invitation-bound trust, and every migration after it
    const [practice] = await migrated.query(
      `INSERT INTO practices (id, ods_code, name, time_zone) VALUES ($1, 'V1PRAC', 'A practice', 'Europe/London') RETURNING id`,
      [randomUUID()],
    );
    const user = async (roles: string[]) => {
      const id = randomUUID();
      await migrated.query(`INSERT INTO users (id, practice_id, roles, display_name, nhs_number) VALUES ($1, $2, $3, 'Someone', $4)`, [
        id,
        practice.id,
        roles,
        roles.includes('patient') ? String(Math.floor(Math.random() * 9e9) + 1e9) : null,
      ]);
      return id;
    };
    const device = async (userId: string) => {
      const id = randomUUID();
      await migrated.query(`INSERT INTO devices (id, user_id, label, sign_public_key, box_public_key, certificate) VALUES ($1, $2, 'pc', $3, $3, $4)`, [
        id,
        userId,
        Buffer.alloc(32, 1),
        Buffer.alloc(64, 2),
      ]);
      return id;
    };
    const invite = (userId: string, createdBy: string) =>
      migrated.query(
        `INSERT INTO invitations (id, practice_id, user_id, code_hash, created_by, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, now() - interval '1 day', now() + interval '1 day')`,
        [randomUUID(), practice.id, userId, randomBytes(32), createdBy],
      );
    const clinician = await user(['clinician']);
    const patient = await user(['patient']);
    const newStaff = await user(['clinician']);
    const staffDevice = await device(clinician);
    const patientDevice = await device(patient);
    await invite(patient, clinician);
    await invite(newStaff, clinician);

    await migrated.runMigrations({ transaction: 'all' });
    const pending = await migrated.query(`SELECT user_id, expires_at > now() AS is_pending FROM invitations ORDER BY user_id = $1 DESC`, [patient]);
    const certificates = await migrated.query(`SELECT id, certificate IS NOT NULL AS is_certified FROM devices ORDER BY id = $1 DESC`, [staffDevice]);

    expect(pending).toEqual([
      { user_id: patient, is_pending: false },
      { user_id: newStaff, is_pending: true },
    ]);
    expect(await migrated.query(`SELECT count(*)::int AS n FROM invitations`)).toEqual([{ n: 2 }]);
    expect(certificates).toEqual([
      { id: staffDevice, is_certified: false },
      { id: patientDevice, is_certified: true },
    ]);
    await expect(migrated.query(`UPDATE devices SET certificate = $2 WHERE id = $1`, [patientDevice, Buffer.alloc(64, 3)])).rejects.toThrow(/never rewritten/);
    await migrated.destroy();
    await scratch.drop();
  });

  it('retires patients activated before invitation-bound trust (deactivated, sessions ended, devices revoked, rows kept), and frees their NHS number', async () => {
    const scratch = await freshDatabase();
    const migrated = await openDatabase(scratch.url);
    await undoThrough(migrated, 1764800000100); // retiring unbound patient accounts, and every migration after it
    const [practice] = await migrated.query(
      `INSERT INTO practices (id, ods_code, name, time_zone) VALUES ($1, 'V1PAT', 'A practice', 'Europe/London') RETURNING id`,
      [randomUUID()],
    );
    const nhsNumber = '9434765919';
    const activated = async (hasInvitationSignature: boolean) => {
      const id = randomUUID();
      const deviceId = randomUUID();
      await migrated.query(
        `INSERT INTO users (id, practice_id, roles, display_name, nhs_number, activated_at, auth_key_hash, auth_salt, auth_ops, auth_mem_bytes)
         VALUES ($1, $2, '{patient}', 'Someone', $3, now(), '$argon2id$x', $4, 3, 67108864)`,
        [id, practice.id, hasInvitationSignature ? '9434765870' : nhsNumber, randomBytes(16)],
      );
      await migrated.query(`INSERT INTO devices (id, user_id, label, sign_public_key, box_public_key) VALUES ($1, $2, 'phone', $3, $3)`, [
        deviceId,
        id,
        Buffer.alloc(32, 1),
      ]);
      await migrated.query(`INSERT INTO sessions (id, user_id, device_id, token_hash, expires_at) VALUES ($1, $2, $3, $4, now() + interval '1 hour')`, [
        randomUUID(),
        id,
        deviceId,
        randomBytes(32),
      ]);
      if (hasInvitationSignature) {
        const invitationId = randomUUID();
        await migrated.query(
          `INSERT INTO invitations (id, practice_id, user_id, lookup_id, invitation_sign_public_key, invitation_signature, root_signature, creator_device_id, created_by, expires_at, used_at)
           VALUES ($1, $2, $3, $4, $5, $6, $6, $7, $3, now() + interval '1 day', now())`,
          [invitationId, practice.id, id, randomBytes(32), Buffer.alloc(32, 2), Buffer.alloc(64, 3), deviceId],
        );
        await migrated.query(
          `INSERT INTO account_keys (id, user_id, sign_public_key, box_public_key, invitation_id, account_signature) VALUES ($1, $2, $3, $3, $4, $5)`,
          [randomUUID(), id, Buffer.alloc(32, 4), invitationId, Buffer.alloc(64, 5)],
        );
      } else {
        await migrated.query(`INSERT INTO account_keys (id, user_id, sign_public_key, box_public_key) VALUES ($1, $2, $3, $3)`, [
          randomUUID(),
          id,
          Buffer.alloc(32, 4),
        ]);
      }
      return id;
    };
    const unbound = await activated(false);
    const bound = await activated(true);

    await migrated.runMigrations({ transaction: 'all' });
    const state = (id: string) =>
      migrated.query(
        `SELECT u.deactivated_at IS NOT NULL AS is_retired, bool_and(d.revoked_at IS NOT NULL) AS are_devices_revoked, bool_and(s.revoked_at IS NOT NULL) AS are_sessions_ended
           FROM users u JOIN devices d ON d.user_id = u.id JOIN sessions s ON s.user_id = u.id WHERE u.id = $1 GROUP BY u.id`,
        [id],
      );

    expect(await state(unbound)).toEqual([{ is_retired: true, are_devices_revoked: true, are_sessions_ended: true }]);
    expect(await state(bound)).toEqual([{ is_retired: false, are_devices_revoked: false, are_sessions_ended: false }]);
    await expect(
      migrated.query(`INSERT INTO users (id, practice_id, roles, display_name, nhs_number) VALUES ($1, $2, '{patient}', 'Someone', $3)`, [
        randomUUID(),
        practice.id,
        nhsNumber,
      ]),
    ).resolves.toBeDefined();
    await migrated.destroy();
    await scratch.drop();
  });

  it('refuses an invitation with both or neither of a code hash and a lookup id, or with half of its chain', async () => {
    const [practice] = await insertPractice();
    const userId = randomUUID();
    await dataSource.query(`INSERT INTO users (id, practice_id, roles, display_name) VALUES ($1, $2, '{clinician}', 'Dr A')`, [userId, practice.id]);
    const insert = (codeHash: Buffer | null, lookupId: Buffer | null) =>
      dataSource.query(
        `INSERT INTO invitations (id, practice_id, user_id, code_hash, lookup_id, created_by, expires_at) VALUES ($1, $2, $3, $4, $5, $3, now() + interval '1 day')`,
        [randomUUID(), practice.id, userId, codeHash, lookupId],
      );

    await expect(insert(null, null)).rejects.toThrow(/check constraint/);
    await expect(insert(randomBytes(32), randomBytes(32))).rejects.toThrow(/check constraint/);
    await expect(insert(null, randomBytes(32))).rejects.toThrow(/check constraint/);
    await expect(insert(randomBytes(32), null)).resolves.toBeDefined();
  });

  it('never synchronises the schema from entities', () => {
    expect(dataSourceOptions('postgres://localhost/x')).toMatchObject({ synchronize: false, migrationsRun: false });
  });
});
