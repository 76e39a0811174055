import { type DynamicModule, Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import type { Logger } from 'pino';
import type { DataSource } from 'typeorm';
import { AttachmentsModule } from './attachments/attachments.module.js';
import { AuditLogModule } from './audit/audit-log.module.js';
import { AccountKeysModule } from './account-keys/account-keys.module.js';
import { CannedRepliesModule } from './canned-replies/canned-replies.module.js';
import { CapacityModule } from './capacity/capacity.module.js';
import type { AppConfig } from './config.js';
import { Clock, ClockModule } from './common/clock.js';
import { RealtimeModule } from './common/realtime.module.js';
import { ConfigModule } from './config.module.js';
import { ConsentModule } from './consent/consent.module.js';
import { ConversationsModule } from './conversations/conversations.module.js';
import { DashboardModule } from './dashboard/dashboard.module.js';
import { DevicesModule } from './devices/devices.module.js';
import { HealthModule } from './health/health.module.js';
import { HoursModule } from './hours/hours.module.js';
import { InvalidationModule } from './invalidation/invalidation.module.js';
import { InvitationsModule } from './invitations/invitations.module.js';
import { LifecycleModule } from './lifecycle/lifecycle.module.js';
import { MetricsModule } from './metrics/metrics.module.js';
import { NotificationsModule } from './notifications/notifications.module.js';
import { PatientsModule } from './patients/patients.module.js';
import { PracticesModule } from './practices/practices.module.js';
import { RecoveryModule } from './recovery/recovery.module.js';
import { RevocationsModule } from './revocations/revocations.module.js';
import { RoutingModule } from './routing/routing.module.js';
import { SessionsModule } from './sessions/sessions.module.js';
import { SignInModule } from './sign-in/sign-in.module.js';
import { SignOutModule } from './sign-out/sign-out.module.js';
import { StaffModule } from './staff/staff.module.js';
import { SystemModule } from './system/system.module.js';

/** What the root module is built from: parsed config, the migrated database, the process logger. */
export interface AppDependencies {
  config: AppConfig;
  dataSource: DataSource;
  logger: Logger;
  /** Tests pass a FakeClock to move time. */
  clock?: Clock;
}

@Module({})
export class AppModule {
  static forRoot({ config, dataSource, clock }: AppDependencies): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ConfigModule.forRoot(config),
        ClockModule.forRoot(clock),
        // The database was opened and migrated before Nest starts, so a bad DATABASE_URL fails early and clearly.
        TypeOrmModule.forRootAsync({ useFactory: () => dataSource.options, dataSourceFactory: async () => dataSource }),
        RealtimeModule,
        InvalidationModule,
        MetricsModule,
        SessionsModule,
        SignInModule,
        SignOutModule,
        InvitationsModule,
        DevicesModule,
        AccountKeysModule,
        RecoveryModule,
        PracticesModule,
        RevocationsModule,
        ConsentModule,
        AuditLogModule,
        HoursModule,
        ConversationsModule,
        AttachmentsModule,
        NotificationsModule,
        RoutingModule,
        CapacityModule,
        LifecycleModule,
        DashboardModule,
        CannedRepliesModule,
        StaffModule,
        PatientsModule,
        HealthModule,
        SystemModule,
      ],
    };
  }
}
