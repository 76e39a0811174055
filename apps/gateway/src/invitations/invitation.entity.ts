import { Column, CreateDateColumn, Entity, PrimaryColumn } from 'typeorm';

/**
 * A one-time invitation (patient) or set-up code (staff). Of a staff code only its SHA-256 is stored; a
 * patient's code never reaches the server, which keeps the lookup id derived from it and the chain
 * the inviting staff client signed (docs/crypto.md, "Invitation-bound trust (v2)").
 */
@Entity('invitations')
export class InvitationEntity {
  @PrimaryColumn('uuid')
  id!: string;

  @Column('uuid')
  practiceId!: string;

  /** The patient account the code activates. */
  @Column('uuid')
  userId!: string;

  /** Staff set-up codes: SHA-256 of the normalised code. Exactly one of `codeHash` and `lookupId` is set. */
  @Column('bytea', { unique: true, nullable: true })
  codeHash!: Buffer | null;

  /** Patient invitations: the lookup id derived from the code (32 bytes). */
  @Column('bytea', { unique: true, nullable: true })
  lookupId!: Buffer | null;

  /** The invitation key V's Ed25519 public key (32 bytes). */
  @Column('bytea', { nullable: true })
  invitationSignPublicKey!: Buffer | null;

  /** The creating staff device's signature over practice, patient, V and expiry (64 bytes). */
  @Column('bytea', { nullable: true })
  invitationSignature!: Buffer | null;

  /** V's signature over the practice root key (64 bytes). */
  @Column('bytea', { nullable: true })
  rootSignature!: Buffer | null;

  /** The staff device that made and signed the invitation. */
  @Column('uuid', { nullable: true })
  creatorDeviceId!: string | null;

  @Column('uuid')
  createdBy!: string;

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt!: Date;

  @Column('timestamptz')
  expiresAt!: Date;

  @Column('timestamptz', { nullable: true })
  usedAt!: Date | null;

  /** Wrong dates of birth tried with this invitation's lookup id, in total: at the limit the invitation is voided. */
  @Column('int', { default: 0 })
  failedAttempts!: number;

  /** When the invitation was voided (it can no longer be used; the practice invites the patient again). */
  @Column('timestamptz', { nullable: true })
  voidedAt!: Date | null;

  @Column('text', { nullable: true })
  voidReason!: InvitationVoidReason | null;
}

/** Why an invitation was voided. */
export type InvitationVoidReason = 'too_many_attempts';
