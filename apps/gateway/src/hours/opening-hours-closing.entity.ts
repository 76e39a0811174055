import { CreateDateColumn, Entity, PrimaryColumn } from 'typeorm';

/** A closing that was announced to open conversations: the key makes the notice once-only across gateway nodes. */
@Entity('opening_hours_closings')
export class OpeningHoursClosingEntity {
  @PrimaryColumn('uuid')
  practiceId!: string;

  @PrimaryColumn('timestamptz')
  closedAt!: Date;

  @CreateDateColumn({ type: 'timestamptz' })
  announcedAt!: Date;
}
