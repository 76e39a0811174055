import { Injectable } from '@nestjs/common';
import type { PushSubscriptionRequest } from '@parley/protocol';
import { DataSource } from 'typeorm';
import { one, rows, run, transaction } from '../database/sql.js';

/** A VAPID key pair, base64url (the private key never leaves the gateway and its database). */
export interface VapidKeyPair {
  id: number;
  publicKey: string;
  privateKey: string;
}

/** A device's Web Push subscription, made under one VAPID key. */
export interface StoredPushSubscription {
  deviceId: string;
  endpoint: string;
  keys: { p256dh: string; auth: string };
  vapidKeyId: number;
}

interface SubscriptionRow {
  device_id: string;
  endpoint: string;
  p256dh: string;
  auth: string;
  vapid_key_id: number;
}

interface KeyRow {
  id: number;
  public_key: string;
  private_key: string;
}

const toKey = (row: KeyRow): VapidKeyPair => ({ id: row.id, publicKey: row.public_key, privateKey: row.private_key });

/** The VAPID keys and the devices' push subscriptions. */
@Injectable()
export class PushSubscriptionsRepository {
  constructor(private readonly dataSource: DataSource) {}

  /** The current VAPID key, if one was made. */
  async currentKey(): Promise<VapidKeyPair | undefined> {
    const row = await one<KeyRow>(this.dataSource, `SELECT id, public_key, private_key FROM vapid_keys WHERE retired_at IS NULL`);
    return row && toKey(row);
  }

  /** Stores `candidate` as the current key unless there is one already (another node won the race): the current key either way. */
  async ensureKey(candidate: Omit<VapidKeyPair, 'id'>): Promise<VapidKeyPair> {
    await run(this.dataSource, `INSERT INTO vapid_keys (public_key, private_key) VALUES ($1, $2) ON CONFLICT ((true)) WHERE retired_at IS NULL DO NOTHING`, [
      candidate.publicKey,
      candidate.privateKey,
    ]);
    const current = await this.currentKey();
    if (!current) throw new Error('no current VAPID key after inserting one');
    return current;
  }

  /** Retires the current key, makes `next` current and deletes every subscription made under an older key, in one transaction. */
  async rotate(next: Omit<VapidKeyPair, 'id'>, now: Date): Promise<{ key: VapidKeyPair; subscriptionsDropped: number }> {
    return transaction(this.dataSource, async (db) => {
      await run(db, `UPDATE vapid_keys SET retired_at = $1 WHERE retired_at IS NULL`, [now]);
      const key = toKey(
        (await one<KeyRow>(db, `INSERT INTO vapid_keys (public_key, private_key) VALUES ($1, $2) RETURNING id, public_key, private_key`, [
          next.publicKey,
          next.privateKey,
        ]))!,
      );
      const dropped = await rows<{ device_id: string }>(db, `DELETE FROM push_subscriptions WHERE vapid_key_id <> $1 RETURNING device_id`, [key.id]);
      return { key, subscriptionsDropped: dropped.length };
    });
  }

  /**
   * Stores the device's subscription, replacing its earlier one, while a session of the device is live (a sign-out
   * committing at the same time leaves none behind). False when the device has no live session.
   */
  async put(userId: string, deviceId: string, subscription: PushSubscriptionRequest, vapidKeyId: number): Promise<boolean> {
    const row = await one<{ device_id: string }>(
      this.dataSource,
      `INSERT INTO push_subscriptions (device_id, user_id, endpoint, p256dh, auth, vapid_key_id)
       SELECT $1, $2, $3, $4, $5, $6
        WHERE EXISTS (SELECT 1 FROM sessions WHERE device_id = $1 AND user_id = $2 AND revoked_at IS NULL AND expires_at > now())
       ON CONFLICT (device_id) DO UPDATE SET endpoint = EXCLUDED.endpoint, p256dh = EXCLUDED.p256dh, auth = EXCLUDED.auth,
         vapid_key_id = EXCLUDED.vapid_key_id, created_at = now()
       RETURNING device_id`,
      [deviceId, userId, subscription.endpoint, subscription.keys.p256dh, subscription.keys.auth, vapidKeyId],
    );
    return row !== undefined;
  }

  /** Deletes the device's subscription (none is fine). */
  async removeForDevice(deviceId: string): Promise<void> {
    await run(this.dataSource, `DELETE FROM push_subscriptions WHERE device_id = $1`, [deviceId]);
  }

  /** Deletes a subscription the push service no longer knows (404/410), unless the device has replaced it since. */
  async removeGone(deviceId: string, endpoint: string): Promise<void> {
    await run(this.dataSource, `DELETE FROM push_subscriptions WHERE device_id = $1 AND endpoint = $2`, [deviceId, endpoint]);
  }

  /** The patient's devices' subscriptions (revoked devices have none: their revocation deleted them). */
  async forUser(userId: string): Promise<StoredPushSubscription[]> {
    const found = await rows<SubscriptionRow>(
      this.dataSource,
      `SELECT device_id, endpoint, p256dh, auth, vapid_key_id FROM push_subscriptions WHERE user_id = $1 ORDER BY created_at`,
      [userId],
    );
    return found.map((row) => ({
      deviceId: row.device_id,
      endpoint: row.endpoint,
      keys: { p256dh: row.p256dh, auth: row.auth },
      vapidKeyId: row.vapid_key_id,
    }));
  }

  /** Whether the user has any subscription (tests and the channel list). */
  async countForUser(userId: string): Promise<number> {
    const row = await one<{ count: string }>(this.dataSource, `SELECT count(*) FROM push_subscriptions WHERE user_id = $1`, [userId]);
    return Number(row?.count ?? 0);
  }
}
