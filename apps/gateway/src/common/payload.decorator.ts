import { MessageBody } from '@nestjs/websockets';
import type { ZodType } from 'zod';
import { SchemaPipe } from './schema.pipe.js';

/** The validated payload of a socket command; anything else is refused as `invalid_payload`. */
export const Payload = (schema: ZodType): ParameterDecorator => MessageBody(new SchemaPipe(schema));
