import { DataSource, type DataSourceOptions } from 'typeorm';
import { InitialSchema1763740000000 } from './migrations/1763740000000-initial-schema.js';
import { AccountsAndKeys1763750000000 } from './migrations/1763750000000-accounts-and-keys.js';
import { ConversationsAndRecord1763760000000 } from './migrations/1763760000000-conversations-and-record.js';
import { OpeningHours1763770000000 } from './migrations/1763770000000-opening-hours.js';
import { AuditConsentSettings1763780000000 } from './migrations/1763780000000-audit-consent-settings.js';
import { QueueAndCapacity1763790000000 } from './migrations/1763790000000-queue-and-capacity.js';
import { Lifecycle1763800000000 } from './migrations/1763800000000-lifecycle.js';
import { ClinicianPresence1763810000000 } from './migrations/1763810000000-clinician-presence.js';
import { CannedReplies1763820000900 } from './migrations/1763820000900-canned-replies.js';
import { InvitationBoundTrust1764800000000 } from './migrations/1764800000000-invitation-bound-trust.js';
import { RetireUnboundPatientAccounts1764800000100 } from './migrations/1764800000100-retire-unbound-patient-accounts.js';
import { UrgentAndClinicianConnection1764810000000 } from './migrations/1764810000000-urgent-and-clinician-connection.js';
import { ReplyWindowAndPatientLimits1764820000000 } from './migrations/1764820000000-reply-window-and-patient-limits.js';
import { InvitationAttempts1764840000000 } from './migrations/1764840000000-invitation-attempts.js';
import { InvalidationNotify1764870000000 } from './migrations/1764870000000-invalidation-notify.js';
import { RevocationLists1765000100000 } from './migrations/1765000100000-revocation-lists.js';
import { PracticeAuthority1765000200000 } from './migrations/1765000200000-practice-authority.js';
import { Recoveries1765000300000 } from './migrations/1765000300000-recoveries.js';
import { Attachments1765000400000 } from './migrations/1765000400000-attachments.js';
import { Notifications1765000500000 } from './migrations/1765000500000-notifications.js';
import { RecordReferencesPerStatement1765000600000 } from './migrations/1765000600000-record-references-per-statement.js';

/** Every migration, oldest first. */
export const MIGRATIONS = [
  InitialSchema1763740000000,
  AccountsAndKeys1763750000000,
  ConversationsAndRecord1763760000000,
  OpeningHours1763770000000,
  AuditConsentSettings1763780000000,
  QueueAndCapacity1763790000000,
  Lifecycle1763800000000,
  ClinicianPresence1763810000000,
  CannedReplies1763820000900,
  InvitationBoundTrust1764800000000,
  RetireUnboundPatientAccounts1764800000100,
  UrgentAndClinicianConnection1764810000000,
  ReplyWindowAndPatientLimits1764820000000,
  InvitationAttempts1764840000000,
  InvalidationNotify1764870000000,
  RevocationLists1765000100000,
  PracticeAuthority1765000200000,
  Recoveries1765000300000,
  Attachments1765000400000,
  Notifications1765000500000,
  RecordReferencesPerStatement1765000600000,
];

/** TypeORM options for a PostgreSQL URL: the pool, and the migrations, which alone describe and change the schema. */
export function dataSourceOptions(url: string): DataSourceOptions {
  return {
    type: 'postgres',
    url,
    // No entities: every query is typed SQL in a repository (docs/decisions/0005-typed-sql-no-entities.md).
    entities: [],
    migrations: MIGRATIONS,
    migrationsTableName: 'migrations',
    migrationsTransactionMode: 'all',
    synchronize: false,
    migrationsRun: false,
    logging: false,
    // pipeline: statements issued together on one connection (a transaction's independent writes) go out at once and
    // are answered in order, in one round trip instead of one each; a statement awaited before the next is unchanged.
    extra: { max: 10, connectionTimeoutMillis: 5_000, application_name: 'parley-gateway', pipeline: true },
  };
}

/** Connects, checks the server answers, and applies pending migrations (all in one transaction). */
export async function openDatabase(url: string): Promise<DataSource> {
  const dataSource = new DataSource(dataSourceOptions(url));
  // TypeORM's pg driver handles idle-client errors itself, so a PostgreSQL restart does not crash the process.
  await dataSource.initialize();
  await dataSource.runMigrations({ transaction: 'all' });
  return dataSource;
}
