import type { Role } from '@parley/protocol';
import type { Actor } from './actor.js';
import { DomainError } from './domain-error.js';

/** Refuses an actor who holds none of `roles`. @throws DomainError `forbidden` */
export function requireRole(actor: Pick<Actor, 'roles'>, ...roles: Role[]): void {
  if (!roles.some((role) => actor.roles.includes(role))) throw new DomainError('forbidden');
}
