import { Column, Entity, PrimaryColumn } from 'typeorm';

/** A topic patients of a practice may open a conversation about. A practice with no rows uses the defaults (practice-settings.service.ts). */
@Entity('practice_categories')
export class PracticeCategoryEntity {
  @PrimaryColumn('uuid')
  practiceId!: string;

  /** The conversation's `topic` (the protocol's Topic pattern). */
  @PrimaryColumn('text')
  slug!: string;

  @Column('text')
  label!: string;

  @Column('boolean')
  isEnabled!: boolean;

  /** Display order, from 0. */
  @Column('integer')
  position!: number;
}
