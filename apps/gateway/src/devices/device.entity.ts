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

  /**
   * Signature over the device's keys by the patient's account key (set once), or for staff by the practice
   * root key with the name and roles below (a manager may replace it); 64 bytes, null until certified.
   */
  @Column('bytea', { nullable: true })
  certificate!: Buffer | null;

  /** Staff devices: the display name the certificate signed. */
  @Column('text', { nullable: true })
  certifiedDisplayName!: string | null;

  /** Staff devices: the roles the certificate signed. */
  @Column('text', { array: true, nullable: true })
  certifiedRoles!: string[] | null;

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt!: Date;

  @Column('timestamptz', { nullable: true })
  revokedAt!: Date | null;
}
