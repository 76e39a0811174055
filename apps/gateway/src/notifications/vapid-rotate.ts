import 'reflect-metadata';
import type { DataSource } from 'typeorm';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../config.js';
import { openDatabase } from '../database/data-source.js';
import { PushSubscriptionsRepository } from './push-subscriptions.repository.js';
import { generateKeyPair } from './vapid-keys.service.js';

/**
 * Makes a new VAPID key pair current and drops every subscription made under the old one, in one transaction: push
 * services refuse pushes signed by a key other than the one a subscription was made with, and the patient app
 * subscribes again on its next start when the key it holds differs (docs/operations.md, "Push notifications").
 */
export async function rotateVapidKey(dataSource: DataSource): Promise<{ publicKey: string; subscriptionsDropped: number }> {
  const { key, subscriptionsDropped } = await new PushSubscriptionsRepository(dataSource).rotate(generateKeyPair(), new Date());
  return { publicKey: key.publicKey, subscriptionsDropped };
}

/** `pnpm --filter @parley/gateway vapid:rotate` against DATABASE_URL. */
async function main(): Promise<void> {
  const config = loadConfig();
  if (!config.databaseUrl) throw new Error('DATABASE_URL is not set (stop `npm start` and point DATABASE_URL at its embedded database, or use your own)');
  const dataSource = await openDatabase(config.databaseUrl);
  try {
    const { publicKey, subscriptionsDropped } = await rotateVapidKey(dataSource);
    process.stdout.write(`new VAPID public key ${publicKey}; ${subscriptionsDropped} subscription(s) dropped (devices subscribe again when the app starts)\n`);
  } finally {
    await dataSource.destroy();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().catch((error: unknown) => {
    process.stderr.write(`parley: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  });
}
