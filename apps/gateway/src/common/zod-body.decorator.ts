import { Body } from '@nestjs/common';
import type { ZodType } from 'zod';
import { SchemaPipe } from './schema.pipe.js';

/** The validated JSON body of an HTTP route (the HTTP twin of `@Payload()`): anything else is `invalid_payload`. */
export const ZodBody = (schema: ZodType): ParameterDecorator => Body(new SchemaPipe(schema));
