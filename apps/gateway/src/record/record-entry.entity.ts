import { Column, Entity, PrimaryColumn } from 'typeorm';

/** One entry of a conversation's append-only record (a message's ciphertext and AD fields, or a system event). */
@Entity('record_entries')
export class RecordEntryEntity {
  @PrimaryColumn('uuid')
  conversationId!: string;

  @PrimaryColumn('bigint')
  seq!: string;

  @Column('text')
  kind!: 'message' | 'system';

  @Column('int', { nullable: true })
  epoch!: number | null;

  @Column('uuid', { nullable: true })
  senderUserId!: string | null;

  @Column('uuid', { nullable: true })
  senderDeviceId!: string | null;

  @Column('text', { nullable: true })
  senderRole!: string | null;

  @Column('bigint', { nullable: true })
  senderDeviceSeq!: string | null;

  @Column('uuid', { nullable: true })
  clientMessageId!: string | null;

  @Column('text', { nullable: true })
  contentType!: string | null;

  @Column('bytea', { nullable: true })
  ciphertext!: Buffer | null;

  @Column('bytea', { nullable: true })
  nonce!: Buffer | null;

  @Column('text', { nullable: true })
  systemEvent!: string | null;

  @Column('jsonb', { nullable: true })
  systemData!: Record<string, unknown> | null;

  @Column('timestamptz')
  createdAt!: Date;

  @Column('bytea')
  prevHash!: Buffer;

  @Column('bytea')
  hash!: Buffer;
}
