import { DataSource, type DataSourceOptions } from 'typeorm';
import { DeviceEntity } from '../auth/device.entity.js';
import { InvitationEntity } from '../auth/invitation.entity.js';
import { UserEntity } from '../auth/user.entity.js';
import { PracticeEntity } from '../practices/practice.entity.js';
import { InitialSchema1763740000000 } from './migrations/1763740000000-initial-schema.js';
import { SnakeNamingStrategy } from './snake-naming.strategy.js';

/** Every entity, listed once (feature modules register theirs with TypeOrmModule.forFeature too). */
export const ENTITIES = [PracticeEntity, UserEntity, DeviceEntity, InvitationEntity];
/** Every migration, oldest first. */
export const MIGRATIONS = [InitialSchema1763740000000];

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
