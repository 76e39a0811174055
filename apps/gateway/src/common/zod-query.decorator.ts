import { Query } from '@nestjs/common';
import type { ZodType } from 'zod';
import { SchemaPipe } from './schema.pipe.js';

/** The validated query string of an HTTP route (every value arrives as text): anything else is `invalid_payload`. */
export const ZodQuery = (schema: ZodType): ParameterDecorator => Query(new SchemaPipe(schema));
