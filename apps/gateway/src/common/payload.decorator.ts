import { type PipeTransform } from '@nestjs/common';
import { MessageBody } from '@nestjs/websockets';
import type { ZodType } from 'zod';
import { DomainError } from './domain-error.js';

/** Validates a command's payload against its protocol schema, or refuses it as `invalid_payload`. */
class SchemaPipe implements PipeTransform {
  constructor(private readonly schema: ZodType) {}

  transform(value: unknown): unknown {
    const result = this.schema.safeParse(value);
    if (result.success) return result.data;
    // Field paths and rules only: never echo the submitted values back or into logs.
    const problems = result.error.issues.map((issue) => `${issue.path.join('.') || '(payload)'}: ${issue.message}`);
    throw new DomainError('invalid_payload', problems.slice(0, 5).join('; '));
  }
}

/** The validated payload of a socket command. */
export const Payload = (schema: ZodType): ParameterDecorator => MessageBody(new SchemaPipe(schema));
