import { Injectable } from '@nestjs/common';
import type { NotificationContactChannel } from '@parley/protocol';
import { DataSource } from 'typeorm';
import { one, run } from '../database/sql.js';

/** A patient's contact for the Notify channel: contact data, never content. */
export interface NotificationContact {
  channel: NotificationContactChannel;
  /** An E.164 phone number or an e-mail address. */
  address: string;
}

/** Where the SMS/e-mail channel finds a patient's contact (docs/operations.md, "Text and e-mail notices"). */
@Injectable()
export class NotificationContactsRepository {
  constructor(private readonly dataSource: DataSource) {}

  /** The patient's contact, unless they gave none or the channel's service refused it since they last changed it. */
  async contactOf(patientUserId: string): Promise<NotificationContact | undefined> {
    const row = await one<{ channel: NotificationContactChannel; address: string }>(
      this.dataSource,
      `SELECT channel, address FROM notification_contacts WHERE user_id = $1 AND failing_since IS NULL`,
      [patientUserId],
    );
    return row && { channel: row.channel, address: row.address };
  }

  /** Sets (or replaces) the patient's contact; a replaced contact that was failing is tried again. */
  async set(patientUserId: string, contact: NotificationContact, now: Date): Promise<void> {
    await run(
      this.dataSource,
      `INSERT INTO notification_contacts (user_id, channel, address, failing_since, updated_at) VALUES ($1, $2, $3, NULL, $4)
       ON CONFLICT (user_id) DO UPDATE SET channel = EXCLUDED.channel, address = EXCLUDED.address, failing_since = NULL, updated_at = EXCLUDED.updated_at`,
      [patientUserId, contact.channel, contact.address, now],
    );
  }

  /** Forgets the patient's contact; true when there was one. */
  async remove(patientUserId: string): Promise<boolean> {
    const row = await one<{ user_id: string }>(this.dataSource, `DELETE FROM notification_contacts WHERE user_id = $1 RETURNING user_id`, [patientUserId]);
    return row !== undefined;
  }

  /** Stops using the contact (the service refused the address) until the patient gives it again. */
  async markFailing(patientUserId: string, now: Date): Promise<void> {
    await run(this.dataSource, `UPDATE notification_contacts SET failing_since = $2 WHERE user_id = $1 AND failing_since IS NULL`, [patientUserId, now]);
  }
}
