import { Column, CreateDateColumn, Entity, PrimaryColumn } from 'typeorm';

/** A 32-byte secret of this deployment, generated on first need and shared by every gateway node. */
@Entity('server_secrets')
export class ServerSecretEntity {
  @PrimaryColumn('text')
  name!: string;

  @Column('bytea')
  secret!: Buffer;

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt!: Date;
}
