import { Column, CreateDateColumn, Entity, PrimaryColumn } from 'typeorm';

/**
 * A patient account key (PAK): public halves only. Its secret halves live in the passphrase backup.
 * Never rewritten or deleted (its signatures must stay verifiable); a new PAK (recovery) revokes the old one.
 */
@Entity('account_keys')
export class AccountKeyEntity {
  @PrimaryColumn('uuid')
  id!: string;

  @Column('uuid')
  userId!: string;

  /** Ed25519 public key (32 bytes). */
  @Column('bytea')
  signPublicKey!: Buffer;

  /** X25519 public key (32 bytes). */
  @Column('bytea')
  boxPublicKey!: Buffer;

  /** The practice's signature over the key (64 bytes); null until a manager certifies it. Set once. */
  @Column('bytea', { nullable: true })
  certificate!: Buffer | null;

  /** The manager who certified it. */
  @Column('uuid', { nullable: true })
  certifiedBy!: string | null;

  @Column('timestamptz', { nullable: true })
  certifiedAt!: Date | null;

  /** The invitation the key was activated with; its key V made `accountSignature`. Null for accounts activated before v2. */
  @Column('uuid', { nullable: true })
  invitationId!: string | null;

  /** The invitation key's signature over this key ("parley/v2/account", 64 bytes). Set once, at activation. */
  @Column('bytea', { nullable: true })
  accountSignature!: Buffer | null;

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt!: Date;

  @Column('timestamptz', { nullable: true })
  revokedAt!: Date | null;
}
