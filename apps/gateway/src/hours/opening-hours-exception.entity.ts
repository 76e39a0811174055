import { Column, Entity, PrimaryColumn, UpdateDateColumn } from 'typeorm';

/** What one local date does instead of the weekly schedule or a bank holiday closure: no intervals is closed. */
@Entity('opening_hours_exceptions')
export class OpeningHoursExceptionEntity {
  @PrimaryColumn('uuid')
  practiceId!: string;

  /** The local date, "YYYY-MM-DD". */
  @PrimaryColumn('date')
  date!: string;

  @Column('text')
  label!: string;

  /** `[{ start, end }]` in local minutes of the day. */
  @Column('jsonb')
  intervals!: { start: number; end: number }[];

  @UpdateDateColumn({ type: 'timestamptz' })
  updatedAt!: Date;
}
