import type { PipeTransform } from '@nestjs/common';
import { validate } from '@parley/protocol';
import type { ZodType } from 'zod';
import { DomainError } from './domain-error.js';

/** Validates a value against a protocol schema and returns the parsed value, or refuses it as `invalid_payload`. */
export class SchemaPipe implements PipeTransform {
  constructor(private readonly schema: ZodType) {}

  transform(value: unknown): unknown {
    return validOrRefused(this.schema, value);
  }
}

/** The value parsed by `schema`. @throws DomainError `invalid_payload` naming field paths and rules, never the submitted values */
export function validOrRefused(schema: ZodType, value: unknown): unknown {
  const result = validate(schema, value);
  if (result.success) return result.data;
  // Field paths and rules only: never echo the submitted values back or into logs.
  throw new DomainError('invalid_payload', result.problems.slice(0, 5).join('; '));
}
