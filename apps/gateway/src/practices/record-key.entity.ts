import { Column, CreateDateColumn, Entity, PrimaryColumn } from 'typeorm';

/** Version `version` of a practice's record key: its X25519 public key, certified by the practice root key. Never rewritten. */
@Entity('record_keys')
export class RecordKeyEntity {
  @PrimaryColumn('uuid')
  practiceId!: string;

  @PrimaryColumn('integer')
  version!: number;

  @Column('bytea')
  boxPublicKey!: Buffer;

  /** Milliseconds since 1970, as signed in the certificate (a bigint column: TypeORM reads it as a string). */
  @Column('bigint')
  validFrom!: string;

  /** The root key's signature (64 bytes). */
  @Column('bytea')
  certificate!: Buffer;

  /** Milliseconds since 1970 of the root's "this version is current" statement; null for versions added before v2. */
  @Column('bigint', { nullable: true })
  currentIssuedAt!: string | null;

  /** The root key's signature over that statement (64 bytes). */
  @Column('bytea', { nullable: true })
  currentSignature!: Buffer | null;

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt!: Date;
}
