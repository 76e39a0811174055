import type { ReplyWindow } from '@parley/protocol';
import { Column, Entity, PrimaryColumn, UpdateDateColumn } from 'typeorm';

/** A practice's hours settings; a practice without a row has the defaults. */
@Entity('opening_hours_settings')
export class OpeningHoursSettingsEntity {
  @PrimaryColumn('uuid')
  practiceId!: string;

  /** New conversations are refused this many minutes before closing. */
  @Column('integer', { default: 15 })
  cutoffMinutes!: number;

  /** Patients are told "closing soon" this many minutes before closing. */
  @Column('integer', { default: 15 })
  closingSoonMinutes!: number;

  /** After closing, how long taken conversations stay two-way. */
  @Column('text', { default: 'end_of_day' })
  replyWindow!: ReplyWindow;

  @Column('boolean', { default: true })
  observesBankHolidays!: boolean;

  @UpdateDateColumn({ type: 'timestamptz' })
  updatedAt!: Date;
}
