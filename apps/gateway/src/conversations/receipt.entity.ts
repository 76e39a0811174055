import { Column, Entity, PrimaryColumn } from 'typeorm';

/** How far one device has received (delivered) or shown (read) a conversation: cumulative. */
@Entity('receipts')
export class ReceiptEntity {
  @PrimaryColumn('uuid')
  conversationId!: string;

  @PrimaryColumn('uuid')
  deviceId!: string;

  @PrimaryColumn('text')
  kind!: 'delivered' | 'read';

  @Column('uuid')
  userId!: string;

  @Column('bigint')
  upToSeq!: string;

  @Column('timestamptz')
  updatedAt!: Date;
}
