import { Global, Module } from '@nestjs/common';
import { ConversationAccessCache } from './conversation-access.cache.js';
import { ConversationAccessRepository } from './conversation-access.repository.js';
import { InvalidationListener } from './invalidation.listener.js';
import { InvalidationRepository } from './invalidation.repository.js';

/**
 * In-memory caches of what rarely changes, invalidated on every node through PostgreSQL LISTEN/NOTIFY
 * (docs/decisions/0006-cache-invalidation-listen-notify.md): the listener, for features that keep their own cache
 * (sessions), and the conversations' access columns. Global: imported once by the app module; it imports no feature.
 */
@Global()
@Module({
  providers: [InvalidationRepository, InvalidationListener, ConversationAccessRepository, ConversationAccessCache],
  exports: [InvalidationListener, ConversationAccessCache],
})
export class InvalidationModule {}
