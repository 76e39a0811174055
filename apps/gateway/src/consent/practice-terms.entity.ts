import { Column, Entity, PrimaryColumn } from 'typeorm';

/** One published version of a practice's terms (1, 2, …). Append-only: a new text is a new version. */
@Entity('practice_terms')
export class PracticeTermsEntity {
  @PrimaryColumn('uuid')
  practiceId!: string;

  @PrimaryColumn('integer')
  version!: number;

  @Column('text')
  text!: string;

  @Column('timestamptz')
  publishedAt!: Date;

  /** The manager who published it. */
  @Column('uuid')
  publishedBy!: string;
}
