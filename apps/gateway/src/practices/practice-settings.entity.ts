import { Column, Entity, PrimaryColumn } from 'typeorm';

/** The texts and per-patient limits a manager sets for the practice; no row, or a null text, means the default. */
@Entity('practice_settings')
export class PracticeSettingsEntity {
  @PrimaryColumn('uuid')
  practiceId!: string;

  @Column('text', { nullable: true })
  practicePhone!: string | null;

  /** With `{replyTime}`, `{practicePhone}`, `{practiceName}` placeholders; null: the default text. */
  @Column('text', { nullable: true })
  acknowledgementTemplate!: string | null;

  /** Conversations one patient may have open at once; null: no limit. */
  @Column('integer', { nullable: true, default: 1 })
  maxOpenPerPatient!: number | null;

  /** Conversations one patient may start in one of the practice's local days; null: no limit. */
  @Column('integer', { nullable: true, default: 3 })
  maxNewPerPatientPerDay!: number | null;

  @Column('timestamptz')
  updatedAt!: Date;

  @Column('uuid', { nullable: true })
  updatedBy!: string | null;
}
