import { Column, Entity, PrimaryColumn } from 'typeorm';

/** One interval of a practice's weekly schedule, in local minutes of the day (an end of 1440 is midnight). */
@Entity('opening_hours_intervals')
export class OpeningHoursIntervalEntity {
  @PrimaryColumn('uuid')
  id!: string;

  @Column('uuid')
  practiceId!: string;

  /** ISO weekday: 1 = Monday … 7 = Sunday. */
  @Column('smallint')
  weekday!: number;

  @Column('integer')
  startMinute!: number;

  @Column('integer')
  endMinute!: number;
}
