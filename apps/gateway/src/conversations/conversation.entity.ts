import { Column, Entity, PrimaryColumn } from 'typeorm';

/** A conversation between a patient and their practice; its head holds the record chain's last seq and hash. */
@Entity('conversations')
export class ConversationEntity {
  @PrimaryColumn('uuid')
  id!: string;

  @Column('uuid')
  practiceId!: string;

  @Column('uuid')
  patientId!: string;

  @Column('text')
  topic!: string;

  @Column('text')
  status!: 'waiting' | 'assigned' | 'on_hold' | 'closed';

  @Column('uuid', { nullable: true })
  assignedClinicianId!: string | null;

  @Column('timestamptz', { nullable: true })
  assignedAt!: Date | null;

  @Column('timestamptz')
  queuedAt!: Date;

  @Column('int')
  currentEpoch!: number;

  @Column('bigint')
  lastSeq!: string;

  @Column('bytea')
  lastHash!: Buffer;

  @Column('uuid')
  createdByDeviceId!: string;

  @Column('timestamptz')
  createdAt!: Date;

  @Column('timestamptz', { nullable: true })
  closedAt!: Date | null;

  @Column('timestamptz', { nullable: true })
  urgentAt!: Date | null;
}
