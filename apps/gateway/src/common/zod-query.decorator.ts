import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import type { ZodType } from 'zod';
import type { Actor } from './actor.js';
import { requireSender } from './edge-roles.js';
import { validOrRefused } from './schema.pipe.js';

// The schema travels under a key of its own: Nest would take a bare zod schema (it has `transform`) for a pipe,
// and `{ schema }` for its own validation options.
const ValidatedQuery = createParamDecorator(({ accepts: schema }: { accepts: ZodType }, context: ExecutionContext): unknown => {
  const request = context.switchToHttp().getRequest<{ actor?: Actor; query: unknown }>();
  requireSender(request.actor, schema);
  return validOrRefused(schema, request.query);
});

/**
 * The validated query string of an HTTP route (every value arrives as text): a caller who may not send it is
 * `forbidden` first (edge-roles.ts), then anything that does not fit is `invalid_payload`.
 */
export const ZodQuery = (schema: ZodType): ParameterDecorator => ValidatedQuery({ accepts: schema });
