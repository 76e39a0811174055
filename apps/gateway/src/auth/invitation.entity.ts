import { Column, CreateDateColumn, Entity, PrimaryColumn } from 'typeorm';

/** A one-time activation code a practice gives a patient; only its SHA-256 is stored. */
@Entity('invitations')
export class InvitationEntity {
  @PrimaryColumn('uuid')
  id!: string;

  @Column('uuid')
  practiceId!: string;

  /** The patient account the code activates. */
  @Column('uuid')
  userId!: string;

  @Column('bytea', { unique: true })
  codeHash!: Buffer;

  @Column('uuid')
  createdBy!: string;

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt!: Date;

  @Column('timestamptz')
  expiresAt!: Date;

  @Column('timestamptz', { nullable: true })
  usedAt!: Date | null;
}
