import { Column, Entity, PrimaryColumn } from 'typeorm';

/** The texts a manager sets for the practice; no row, or a null column, means the default. */
@Entity('practice_settings')
export class PracticeSettingsEntity {
  @PrimaryColumn('uuid')
  practiceId!: string;

  @Column('text', { nullable: true })
  practicePhone!: string | null;

  /** With `{replyTime}`, `{practicePhone}`, `{practiceName}` placeholders; null: the default text. */
  @Column('text', { nullable: true })
  acknowledgementTemplate!: string | null;

  @Column('timestamptz')
  updatedAt!: Date;

  @Column('uuid', { nullable: true })
  updatedBy!: string | null;
}
