import { randomUUID } from 'node:crypto';
import { generateDeviceKeys, type IdentityKeys } from '@parley/crypto';
import type { DataSource } from 'typeorm';

/**
 * The adversarial-server suite's shared tools (docs/threat-model.md, T9): the server as the attacker, with the
 * database in hand. Each spec keeps its own ledger, printed at the end as "N attacks, N refused".
 */

/** A ledger of attacks tried and refused; `attack` counts one as refused only if every expectation inside held. */
export function attackLedger(): { ledger: { attacks: number; refused: number }; attack: (run: () => Promise<void>) => Promise<void> } {
  const ledger = { attacks: 0, refused: 0 };
  return {
    ledger,
    attack: async (run) => {
      ledger.attacks += 1;
      await run();
      ledger.refused += 1;
    },
  };
}

/** The attacker's hands on the database: SQL with the row triggers (append-only, keys kept) off, and injected devices. */
export function attackerOf(dataSource: () => DataSource) {
  const tamper = async (sql: string, params: unknown[] = []) =>
    dataSource().transaction(async (db) => {
      await db.query(`SET LOCAL session_replication_role = replica`);
      return db.query(sql, params);
    });
  /** Injects a device row for a user, as the server could: attacker keys, and the certificate it chooses. */
  const injectDevice = async (userId: string, certificate: Buffer | null, keys: IdentityKeys = generateDeviceKeys()) => {
    const id = randomUUID();
    await tamper(`INSERT INTO devices (id, user_id, label, sign_public_key, box_public_key, certificate) VALUES ($1, $2, 'attacker', $3, $4, $5)`, [
      id,
      userId,
      Buffer.from(keys.signPublicKey),
      Buffer.from(keys.boxPublicKey),
      certificate,
    ]);
    return { id, keys };
  };
  return { tamper, injectDevice };
}
