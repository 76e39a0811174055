import { Column, Entity, PrimaryColumn } from 'typeorm';

/** A practice-wide template a clinician inserts into a message (plaintext: practice boilerplate, never patient data). */
@Entity('canned_replies')
export class CannedReplyEntity {
  @PrimaryColumn('uuid')
  id!: string;

  @Column('uuid')
  practiceId!: string;

  @Column('text')
  title!: string;

  @Column('text')
  text!: string;

  @Column('timestamptz')
  createdAt!: Date;

  @Column('timestamptz')
  updatedAt!: Date;

  @Column('uuid')
  updatedBy!: string;
}
