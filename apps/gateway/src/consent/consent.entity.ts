import { Column, Entity, PrimaryColumn } from 'typeorm';

/** A patient's acceptance of one version of their practice's terms, kept for good (append-only). */
@Entity('consents')
export class ConsentEntity {
  @PrimaryColumn('uuid')
  patientId!: string;

  @PrimaryColumn('uuid')
  practiceId!: string;

  @PrimaryColumn('integer')
  version!: number;

  @Column('timestamptz')
  givenAt!: Date;
}
