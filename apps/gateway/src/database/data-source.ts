import { DataSource, type DataSourceOptions } from 'typeorm';
import { AccountKeyEntity } from '../account-keys/account-key.entity.js';
import { AuthAttemptEntity } from '../rate-limits/auth-attempt.entity.js';
import { DeviceEntity } from '../devices/device.entity.js';
import { InvitationEntity } from '../invitations/invitation.entity.js';
import { KeyBackupEntity } from '../account-keys/key-backup.entity.js';
import { ServerSecretEntity } from '../sign-in/server-secret.entity.js';
import { SessionEntity } from '../sessions/session.entity.js';
import { UserEntity } from '../invitations/user.entity.js';
import { PracticeEntity } from '../practices/practice.entity.js';
import { RecordKeyGrantEntity } from '../practices/record-key-grant.entity.js';
import { RecordKeyEntity } from '../practices/record-key.entity.js';
import { ConversationEnvelopeEntity } from '../conversations/conversation-envelope.entity.js';
import { ConversationEntity } from '../conversations/conversation.entity.js';
import { ReceiptEntity } from '../conversations/receipt.entity.js';
import { RecordEntryEntity } from '../record/record-entry.entity.js';
import { OpeningHoursClosingEntity } from '../hours/opening-hours-closing.entity.js';
import { OpeningHoursExceptionEntity } from '../hours/opening-hours-exception.entity.js';
import { OpeningHoursIntervalEntity } from '../hours/opening-hours-interval.entity.js';
import { OpeningHoursSettingsEntity } from '../hours/opening-hours-settings.entity.js';
import { AuditEventEntity } from '../audit/audit-event.entity.js';
import { ConsentEntity } from '../consent/consent.entity.js';
import { PracticeTermsEntity } from '../consent/practice-terms.entity.js';
import { PracticeCategoryEntity } from '../practices/practice-category.entity.js';
import { PracticeSettingsEntity } from '../practices/practice-settings.entity.js';
import { CannedReplyEntity } from '../canned-replies/canned-reply.entity.js';
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
import { SnakeNamingStrategy } from './snake-naming.strategy.js';

/** Every entity, listed once (feature modules register theirs with TypeOrmModule.forFeature too). */
export const ENTITIES = [
  PracticeEntity,
  UserEntity,
  DeviceEntity,
  InvitationEntity,
  SessionEntity,
  AccountKeyEntity,
  KeyBackupEntity,
  AuthAttemptEntity,
  ServerSecretEntity,
  RecordKeyEntity,
  RecordKeyGrantEntity,
  ConversationEntity,
  ConversationEnvelopeEntity,
  RecordEntryEntity,
  ReceiptEntity,
  OpeningHoursSettingsEntity,
  OpeningHoursIntervalEntity,
  OpeningHoursExceptionEntity,
  OpeningHoursClosingEntity,
  AuditEventEntity,
  PracticeTermsEntity,
  ConsentEntity,
  PracticeCategoryEntity,
  PracticeSettingsEntity,
  CannedReplyEntity,
];
/** Every migration, oldest first. */
export const MIGRATIONS = [InitialSchema1763740000000, AccountsAndKeys1763750000000, ConversationsAndRecord1763760000000, OpeningHours1763770000000, AuditConsentSettings1763780000000, QueueAndCapacity1763790000000, Lifecycle1763800000000, ClinicianPresence1763810000000, CannedReplies1763820000900, InvitationBoundTrust1764800000000, RetireUnboundPatientAccounts1764800000100, UrgentAndClinicianConnection1764810000000, ReplyWindowAndPatientLimits1764820000000, InvitationAttempts1764840000000];

/** TypeORM options for a PostgreSQL URL. Schema changes come only from migrations. */
export function dataSourceOptions(url: string): DataSourceOptions {
  return {
    type: 'postgres',
    url,
    entities: ENTITIES,
    migrations: MIGRATIONS,
    migrationsTableName: 'migrations',
    migrationsTransactionMode: 'all',
    namingStrategy: new SnakeNamingStrategy(),
    synchronize: false,
    migrationsRun: false,
    logging: false,
    extra: { max: 10, connectionTimeoutMillis: 5_000, application_name: 'parley-gateway' },
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
