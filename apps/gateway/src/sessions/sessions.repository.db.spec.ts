import { createHash, randomUUID } from 'node:crypto';
import type { TestDatabase } from '@parley/testing';
import type { DataSource } from 'typeorm';
import { freshDatabase } from '../../test/database.js';
import { insertDevice, insertPractice, insertUser } from '../../test/factories.js';
import { openDatabase } from '../database/data-source.js';
import { IDLE_TIMEOUTS as IDLE } from './sessions.service.js';
import { SessionsRepository } from './sessions.repository.js';

describe(SessionsRepository.name, () => {
  let database: TestDatabase;
  let dataSource: DataSource;
  let sut: SessionsRepository;

  beforeAll(async () => {
    database = await freshDatabase();
    dataSource = await openDatabase(database.url);
    sut = new SessionsRepository(dataSource);
  });

  afterAll(async () => {
    await dataSource.destroy();
    await database.drop();
  });

  /** A session of a new staff user on a new device, expiring `expiresIn` from now (a negative interval: already expired). */
  async function aSession(expiresIn = '1 hour') {
    const practice = await insertPractice(dataSource);
    const userId = await insertUser(dataSource, practice.id, ['clinician']);
    const deviceId = await insertDevice(dataSource, userId);
    const id = randomUUID();
    const tokenHash = createHash('sha256').update(id).digest();
    // Created a day ago, so that an already expired session is one that was valid once (expires_at > created_at).
    await dataSource.query(
      `INSERT INTO sessions (id, user_id, device_id, token_hash, created_at, expires_at, last_seen_at) VALUES ($1, $2, $3, $4, now() - interval '1 day', now() + $5::interval, now() - interval '10 minutes')`,
      [id, userId, deviceId, tokenHash, expiresIn],
    );
    return { id, userId, deviceId, tokenHash, practice };
  }

  it('resolves a live session to its Actor and marks it seen', async () => {
    const session = await aSession();

    const found = await sut.findActiveByTokenHash(session.tokenHash, IDLE);
    const [row] = await dataSource.query(`SELECT last_seen_at > now() - interval '5 seconds' AS is_fresh FROM sessions WHERE id = $1`, [session.id]);

    expect(found?.actor).toEqual({
      userId: session.userId,
      deviceId: session.deviceId,
      sessionId: session.id,
      practiceId: session.practice.id,
      practiceOdsCode: session.practice.odsCode,
      roles: ['clinician'],
      displayName: 'Someone',
    });
    expect(row.is_fresh).toBe(true);
  });

  it('resolves nothing for an expired or revoked session, a revoked device or a deactivated user', async () => {
    const expired = await aSession('-1 second');
    const revoked = await aSession();
    const onRevokedDevice = await aSession();
    const ofDeactivated = await aSession();
    await sut.revoke(revoked.id, 'signed_out');
    await dataSource.query(`UPDATE devices SET revoked_at = now() WHERE id = $1`, [onRevokedDevice.deviceId]);
    await dataSource.query(`UPDATE users SET deactivated_at = now() WHERE id = $1`, [ofDeactivated.userId]);

    const found = await Promise.all([expired, revoked, onRevokedDevice, ofDeactivated].map((session) => sut.findActiveByTokenHash(session.tokenHash, IDLE)));
    const states = await Promise.all([expired, revoked, onRevokedDevice, ofDeactivated].map((session) => sut.findState(session.id, IDLE, false)));

    expect(found).toEqual([null, null, null, null]);
    expect(states).toMatchObject([
      { endReason: null, isExpired: true, isIdle: false, isDeviceRevoked: false, isUserDeactivated: false },
      { endReason: 'signed_out', isExpired: false, isIdle: false, isDeviceRevoked: false, isUserDeactivated: false },
      { endReason: null, isExpired: false, isIdle: false, isDeviceRevoked: true, isUserDeactivated: false },
      { endReason: null, isExpired: false, isIdle: false, isDeviceRevoked: false, isUserDeactivated: true },
    ]);
  });

  it('ends a session unused for longer than its idle timeout, shorter for staff, and does not revive it', async () => {
    const session = await aSession();
    const lastSeen = (minutesAgo: number) =>
      dataSource.query(`UPDATE sessions SET last_seen_at = now() - make_interval(mins => $2) WHERE id = $1`, [session.id, minutesAgo]);

    await lastSeen(IDLE.staffMinutes + 1);
    const found = await sut.findActiveByTokenHash(session.tokenHash, IDLE);
    const state = await sut.findState(session.id, IDLE, true);
    const [row] = await dataSource.query(`SELECT last_seen_at < now() - interval '30 minutes' AS is_still_old FROM sessions WHERE id = $1`, [session.id]);
    const asPatient = await sut.findState(session.id, { staffMinutes: IDLE.patientMinutes, patientMinutes: IDLE.staffMinutes }, false);

    expect(found).toBeNull();
    expect(state).toMatchObject({ endReason: null, isExpired: false, isIdle: true });
    expect(row.is_still_old).toBe(true);
    expect(asPatient).toMatchObject({ isIdle: false });
  });

  it('marks a session seen on use at most once a minute, and never on a check that is not use', async () => {
    const session = await aSession();
    const seenAt = async (): Promise<Date> => (await dataSource.query(`SELECT last_seen_at FROM sessions WHERE id = $1`, [session.id]))[0].last_seen_at;
    await dataSource.query(`UPDATE sessions SET last_seen_at = now() - interval '10 minutes' WHERE id = $1`, [session.id]);

    const check = await sut.findState(session.id, IDLE, false);
    const afterCheck = await seenAt();
    const used = await sut.findState(session.id, IDLE, true);
    const afterUse = await seenAt();
    await sut.findState(session.id, IDLE, true);

    expect(Date.now() - afterCheck.getTime()).toBeGreaterThan(9 * 60_000);
    expect(check!.endsAt.getTime()).toBe(afterCheck.getTime() + IDLE.staffMinutes * 60_000);
    expect(Date.now() - afterUse.getTime()).toBeLessThan(60_000);
    expect(used!.endsAt.getTime()).toBe(afterUse.getTime() + IDLE.staffMinutes * 60_000);
    expect((await seenAt()).getTime()).toBe(afterUse.getTime());
  });

  it('revokes every open session of a user, keeping the first reason of one already ended', async () => {
    const session = await aSession();
    const secondId = randomUUID();
    await dataSource.query(`INSERT INTO sessions (id, user_id, device_id, token_hash, expires_at) VALUES ($1, $2, $3, $4, now() + interval '1 hour')`, [
      secondId,
      session.userId,
      session.deviceId,
      createHash('sha256').update(secondId).digest(),
    ]);
    await sut.revoke(session.id, 'device_revoked');

    const count = await sut.revokeAllOfUser(session.userId, 'signed_out');

    expect(count).toBe(1);
    expect((await sut.findState(session.id, IDLE, false))?.endReason).toBe('device_revoked');
    expect((await sut.findState(secondId, IDLE, false))?.endReason).toBe('signed_out');
  });

  it('refuses a session on another user’s device and a token hash of the wrong size', async () => {
    const session = await aSession();
    const stranger = await insertUser(dataSource, session.practice.id, ['clinician']);
    const insert = (userId: string, tokenHash: Buffer) =>
      dataSource.query(`INSERT INTO sessions (id, user_id, device_id, token_hash, expires_at) VALUES ($1, $2, $3, $4, now() + interval '1 hour')`, [
        randomUUID(),
        userId,
        session.deviceId,
        tokenHash,
      ]);

    await expect(insert(stranger, randomBytes32())).rejects.toThrow(/foreign key/);
    await expect(insert(session.userId, Buffer.alloc(31))).rejects.toThrow(/check constraint/);
  });
});

function randomBytes32(): Buffer {
  return createHash('sha256').update(randomUUID()).digest();
}
