import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import type { Role } from '@parley/protocol';
import type { Socket } from 'socket.io';
import { DomainError } from './domain-error.js';

/** Who is calling: set on the socket at the handshake, or on the HTTP request by the auth guard. */
export interface Actor {
  userId: string;
  deviceId: string;
  sessionId: string;
  practiceId: string;
  practiceOdsCode: string;
  roles: readonly Role[];
  displayName: string;
}

/** Staff are clinicians or managers; patients are never staff (the database enforces it). */
export const isStaff = (actor: Pick<Actor, 'roles'>): boolean => !actor.roles.includes('patient');

/** The role a user acts in: patient, else clinician, else manager (a manager who is also a clinician writes as a clinician). */
export function primaryRole(actor: Pick<Actor, 'roles'>): Role {
  if (actor.roles.includes('patient')) return 'patient';
  return actor.roles.includes('clinician') ? 'clinician' : 'manager';
}

/** The authenticated caller of a socket command or HTTP route. @throws DomainError `unauthorized` when there is none */
export const Actor = createParamDecorator((_data: unknown, context: ExecutionContext): Actor => {
  const actor =
    context.getType() === 'ws'
      ? (context.switchToWs().getClient<Socket>().data as { actor?: Actor }).actor
      : context.switchToHttp().getRequest<{ actor?: Actor }>().actor;
  if (!actor) throw new DomainError('unauthorized');
  return actor;
});
