import { createHash, randomUUID } from 'node:crypto';
import type { TestDatabase } from '@parley/testing';
import type { DataSource } from 'typeorm';
import { freshDatabase } from '../../test/database.js';
import { insertDevice, insertPractice, insertUser } from '../../test/factories.js';
import { openDatabase } from '../database/data-source.js';
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

  /** A session of a new staff user on a new device; the token hash is random. */
  async function aSession(expiresIn = '1 hour') {
    const practice = await insertPractice(dataSource);
    const userId = await insertUser(dataSource, practice.id, ['clinician']);
    const deviceId = await insertDevice(dataSource, userId);
    const id = randomUUID();
    const tokenHash = createHash('sha256').update(id).digest();
    await dataSource.query(`INSERT INTO sessions (id, user_id, device_id, token_hash, expires_at, last_seen_at) VALUES ($1, $2, $3, $4, now() + $5::interval, now() - interval '1 hour')`, [
      id,
      userId,
      deviceId,
      tokenHash,
      expiresIn,
    ]);
    return { id, userId, deviceId, tokenHash, practice };
  }

  it('resolves a live session to its Actor and marks it seen', async () => {
    const session = await aSession();

    const found = await sut.findActiveByTokenHash(session.tokenHash);
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
    const expired = await aSession('1 second');
    const revoked = await aSession();
    const onRevokedDevice = await aSession();
    const ofDeactivated = await aSession();
    await dataSource.query(`SELECT pg_sleep(1.1)`);
    await sut.revoke(revoked.id, 'signed_out');
    await dataSource.query(`UPDATE devices SET revoked_at = now() WHERE id = $1`, [onRevokedDevice.deviceId]);
    await dataSource.query(`UPDATE users SET deactivated_at = now() WHERE id = $1`, [ofDeactivated.userId]);

    const found = await Promise.all([expired, revoked, onRevokedDevice, ofDeactivated].map((session) => sut.findActiveByTokenHash(session.tokenHash)));
    const states = await Promise.all([expired, revoked, onRevokedDevice, ofDeactivated].map((session) => sut.findState(session.id)));

    expect(found).toEqual([null, null, null, null]);
    expect(states).toEqual([
      { endReason: null, isExpired: true, isDeviceRevoked: false, isUserDeactivated: false },
      { endReason: 'signed_out', isExpired: false, isDeviceRevoked: false, isUserDeactivated: false },
      { endReason: null, isExpired: false, isDeviceRevoked: true, isUserDeactivated: false },
      { endReason: null, isExpired: false, isDeviceRevoked: false, isUserDeactivated: true },
    ]);
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
    expect((await sut.findState(session.id))?.endReason).toBe('device_revoked');
    expect((await sut.findState(secondId))?.endReason).toBe('signed_out');
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
