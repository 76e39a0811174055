import type { AuditAction } from '@parley/protocol';
import { Column, Entity, PrimaryColumn } from 'typeorm';

/** One line of the append-only audit trail: who did what, to which patient or conversation. Ids and codes only, never content or names. */
@Entity('audit_events')
export class AuditEventEntity {
  /** Identity column: increases with every insert, so it orders and pages the log. */
  @PrimaryColumn('bigint')
  id!: string;

  @Column('uuid')
  practiceId!: string;

  /** Null when the server acted by itself (automatic assignment, return to the queue). */
  @Column('uuid', { nullable: true })
  actorUserId!: string | null;

  @Column('uuid', { nullable: true })
  actorDeviceId!: string | null;

  @Column('text')
  action!: AuditAction;

  /** The patient the action concerns, if any. */
  @Column('uuid', { nullable: true })
  subjectUserId!: string | null;

  @Column('uuid', { nullable: true })
  conversationId!: string | null;

  @Column('jsonb')
  data!: Record<string, unknown>;

  /** From the injected Clock. */
  @Column('timestamptz')
  createdAt!: Date;
}
