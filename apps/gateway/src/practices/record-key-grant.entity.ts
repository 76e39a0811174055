import { Column, CreateDateColumn, Entity, PrimaryColumn } from 'typeorm';

/** A record key version's seed sealed to one staff device (80 bytes) and signed by the granting manager's device. Revoked, never deleted. */
@Entity('record_key_grants')
export class RecordKeyGrantEntity {
  @PrimaryColumn('uuid')
  id!: string;

  @Column('uuid')
  practiceId!: string;

  @Column('integer')
  version!: number;

  /** The staff device the seed is sealed to. */
  @Column('uuid')
  deviceId!: string;

  @Column('bytea')
  sealedSeed!: Buffer;

  @Column('bytea')
  signature!: Buffer;

  @Column('uuid')
  grantedByDeviceId!: string;

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt!: Date;

  @Column('timestamptz', { nullable: true })
  revokedAt!: Date | null;
}
