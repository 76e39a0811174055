import { SubscribeMessage } from '@nestjs/websockets';
import type { CommandName } from '@parley/protocol';

/** A typed `@SubscribeMessage`: only command names declared in `@parley/protocol` compile. */
export const On = (event: CommandName): MethodDecorator => SubscribeMessage(event);
