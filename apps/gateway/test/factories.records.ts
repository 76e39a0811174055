import { randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { genesisHash } from '../src/record/record-hash.js';
import type { NewEntry, NewMessage } from '../src/record/record.types.js';

/** A practice, a patient with one device, and an open conversation, inserted directly (for record-level tests). */
export async function aConversation(dataSource: DataSource): Promise<{ conversationId: string; patientId: string; deviceId: string; practiceId: string }> {
  const practiceId = randomUUID();
  const patientId = randomUUID();
  const deviceId = randomUUID();
  const conversationId = randomUUID();
  await dataSource.query(`INSERT INTO practices (id, ods_code, name, time_zone) VALUES ($1, $2, 'Test Surgery', 'Europe/London')`, [
    practiceId,
    `T${randomUUID().replace(/-/g, '').slice(0, 8).toUpperCase()}`,
  ]);
  await dataSource.query(`INSERT INTO users (id, practice_id, roles, display_name) VALUES ($1, $2, '{patient}', 'Pat')`, [patientId, practiceId]);
  await dataSource.query(`INSERT INTO devices (id, user_id, label, sign_public_key, box_public_key) VALUES ($1, $2, 'phone', $3, $3)`, [
    deviceId,
    patientId,
    Buffer.alloc(32, 7),
  ]);
  await dataSource.query(
    `INSERT INTO conversations (id, practice_id, patient_id, topic, created_by_device_id, last_hash) VALUES ($1, $2, $3, 'admin', $4, $5)`,
    [conversationId, practiceId, patientId, deviceId, genesisHash(conversationId)],
  );
  return { conversationId, patientId, deviceId, practiceId };
}

/** A patient's message to append to `to`'s record: sender sequence `senderDeviceSeq`, a fresh client message id. */
export function aMessageEntry(
  to: { conversationId: string; patientId: string; deviceId: string },
  senderDeviceSeq: number,
  overrides: Partial<NewMessage> = {},
): NewEntry {
  return {
    conversationId: to.conversationId,
    message: {
      epoch: 1,
      senderUserId: to.patientId,
      senderDeviceId: to.deviceId,
      senderRole: 'patient',
      senderDeviceSeq,
      clientMessageId: randomUUID(),
      contentType: 'text',
      ciphertext: Buffer.from(`message ${senderDeviceSeq}`.padEnd(32, '.')),
      nonce: Buffer.alloc(24, senderDeviceSeq % 256),
      ...overrides,
    },
  };
}
