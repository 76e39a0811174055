import { Injectable } from '@nestjs/common';
import type { ConversationRow } from '../common/conversation-row.js';
import { ConversationAccessRepository } from './conversation-access.repository.js';
import { InvalidatedCache } from './invalidated-cache.js';
import { InvalidationListener } from './invalidation.listener.js';

/** Who may use a conversation: its practice, patient, assignee and status (nothing the record writer moves). */
export interface ConversationAccess {
  id: string;
  practiceId: string;
  patientId: string;
  assignedClinicianId: string | null;
  status: ConversationRow['status'];
}

/** Conversations held in memory at most (about 200 bytes each): the busiest ones stay, memory stays flat. */
export const CONVERSATION_ACCESS_ENTRIES = 20_000;

/**
 * A conversation's access columns from memory, on every node invalidated the moment its status, assignee, patient or
 * practice changes (the `conversation:<id>` notification, docs/decisions/0006-cache-invalidation-listen-notify.md).
 */
@Injectable()
export class ConversationAccessCache {
  private readonly cache: InvalidatedCache<string, ConversationAccess>;

  constructor(
    private readonly repository: ConversationAccessRepository,
    listener: InvalidationListener,
  ) {
    this.cache = new InvalidatedCache(listener, CONVERSATION_ACCESS_ENTRIES);
    listener.onInvalidation(({ kind, id }) => {
      if (kind === 'conversation') this.cache.invalidate(id);
    });
    listener.onReset(() => this.cache.clear());
  }

  /** From memory when cached; else one primary-key read, cached until a change to status / assignee / patient / practice is notified. */
  get(conversationId: string): Promise<ConversationAccess | undefined> {
    return this.cache.get(conversationId, (id) => this.repository.findAccess(id));
  }
}
