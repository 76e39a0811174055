import { Column, Entity, PrimaryColumn } from 'typeorm';

/** A patient's account key secrets, encrypted under their passphrase (176 bytes): the server can store it, not open it. */
@Entity('key_backups')
export class KeyBackupEntity {
  @PrimaryColumn('uuid')
  userId!: string;

  @Column('bytea')
  blob!: Buffer;

  /** The Argon2id salt and cost the blob's key was derived with. */
  @Column('bytea')
  salt!: Buffer;

  @Column('integer')
  opsLimit!: number;

  @Column('integer')
  memLimitBytes!: number;

  /** 1 at activation, raised by the server each time the blob is replaced. */
  @Column('integer')
  version!: number;

  @Column('timestamptz')
  updatedAt!: Date;
}
