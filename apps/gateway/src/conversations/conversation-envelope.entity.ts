import { Column, Entity, PrimaryColumn } from 'typeorm';

/** An epoch key sealed to one recipient (device, patient account key or record key version), signed by its creator. */
@Entity('conversation_envelopes')
export class ConversationEnvelopeEntity {
  @PrimaryColumn('uuid')
  conversationId!: string;

  @PrimaryColumn('int')
  epoch!: number;

  @PrimaryColumn('bytea')
  recipientKeyId!: Buffer;

  @Column('text')
  recipientKind!: 'device' | 'account' | 'record';

  @Column('uuid', { nullable: true })
  recipientDeviceId!: string | null;

  @Column('uuid', { nullable: true })
  recipientUserId!: string | null;

  @Column('int', { nullable: true })
  recipientRecordVersion!: number | null;

  @Column('bytea')
  sealedKey!: Buffer;

  @Column('bytea')
  signature!: Buffer;

  @Column('uuid')
  creatorDeviceId!: string;

  @Column('timestamptz')
  createdAt!: Date;
}
