import { Column, CreateDateColumn, Entity, PrimaryColumn } from 'typeorm';

/** Why a session ended before it expired (`SessionEnded['reason']` minus `expired`, which is computed). */
export type SessionEndReason = 'signed_out' | 'revoked' | 'device_revoked';

/** A signed-in device: what a bearer token stands for until it expires or is revoked. */
@Entity('sessions')
export class SessionEntity {
  @PrimaryColumn('uuid')
  id!: string;

  @Column('uuid')
  userId!: string;

  @Column('uuid')
  deviceId!: string;

  /** SHA-256 of the 32-byte random token; the token itself is only ever in the client's hands. */
  @Column('bytea', { unique: true })
  tokenHash!: Buffer;

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt!: Date;

  @Column('timestamptz')
  expiresAt!: Date;

  /** Refreshed at most once a minute by requests and handshakes. */
  @Column('timestamptz')
  lastSeenAt!: Date;

  @Column('timestamptz', { nullable: true })
  revokedAt!: Date | null;

  @Column('text', { nullable: true })
  endReason!: SessionEndReason | null;

  @Column('inet', { nullable: true })
  ip!: string | null;
}
