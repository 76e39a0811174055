import { Column, CreateDateColumn, Entity, PrimaryColumn } from 'typeorm';
import type { Role } from '@parley/protocol';

/** A patient or a member of staff of one practice. Identity is kept to the minimum the practice needs. */
@Entity('users')
export class UserEntity {
  @PrimaryColumn('uuid')
  id!: string;

  @Column('uuid')
  practiceId!: string;

  /** Non-empty subset of patient / clinician / manager (checked by the database). */
  @Column('text', { array: true })
  roles!: Role[];

  @Column('text')
  displayName!: string;

  /** Staff sign in with their e-mail; patients have none here. Unique per practice. */
  @Column('text', { nullable: true })
  email!: string | null;

  /** Patients only: NHS number (10 digits) and date of birth, for matching to the clinical record. */
  @Column('text', { nullable: true })
  nhsNumber!: string | null;

  @Column('date', { nullable: true })
  dateOfBirth!: string | null;

  /** `crypto_pwhash_str` of the client-derived auth key; null until the account is activated. Never the passphrase. */
  @Column('text', { nullable: true })
  authKeyHash!: string | null;

  /** Argon2id salt and cost the client derives its auth key with (handed back by prelogin); null until activated. */
  @Column('bytea', { nullable: true })
  authSalt!: Buffer | null;

  @Column('integer', { nullable: true })
  authOps!: number | null;

  @Column('integer', { nullable: true })
  authMemBytes!: number | null;

  @Column('timestamptz', { nullable: true })
  activatedAt!: Date | null;

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt!: Date;

  @Column('timestamptz', { nullable: true })
  deactivatedAt!: Date | null;
}
