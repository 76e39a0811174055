import { Column, CreateDateColumn, Entity, PrimaryColumn } from 'typeorm';

/** One browser or app install of a user, with its public keys. Never deleted: signatures must stay verifiable. */
@Entity('devices')
export class DeviceEntity {
  @PrimaryColumn('uuid')
  id!: string;

  @Column('uuid')
  userId!: string;

  @Column('text')
  label!: string;

  /** Ed25519 public key (32 bytes). */
  @Column('bytea')
  signPublicKey!: Buffer;

  /** X25519 public key (32 bytes). */
  @Column('bytea')
  boxPublicKey!: Buffer;

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt!: Date;

  @Column('timestamptz', { nullable: true })
  revokedAt!: Date | null;
}
