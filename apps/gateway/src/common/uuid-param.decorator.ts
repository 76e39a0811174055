import { Param } from '@nestjs/common';
import { Uuid } from '@parley/protocol';
import { SchemaPipe } from './schema.pipe.js';

/** A route parameter that must be a UUID (a malformed one is `invalid_payload`, before any query sees it). */
export const UuidParam = (name: string): ParameterDecorator => Param(name, new SchemaPipe(Uuid));
