import { Column, CreateDateColumn, Entity, PrimaryColumn } from 'typeorm';

/** A GP practice: the tenant every other row belongs to. */
@Entity('practices')
export class PracticeEntity {
  @PrimaryColumn('uuid')
  id!: string;

  /** The NHS ODS code, e.g. "Y00001"; part of every message's additional data. */
  @Column('text', { unique: true })
  odsCode!: string;

  @Column('text')
  name!: string;

  /** IANA zone the opening hours are written in, e.g. "Europe/London". */
  @Column('text')
  timeZone!: string;

  /** Ed25519 public key of the practice root key (32 bytes) that clients pin; null until a manager sets it, then never changed. */
  @Column('bytea', { nullable: true })
  rootSignPublicKey!: Buffer | null;

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt!: Date;
}
