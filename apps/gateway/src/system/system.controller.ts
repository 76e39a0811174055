import { Controller, Get } from '@nestjs/common';
import { PROTOCOL_VERSION, type SystemPong } from '@parley/protocol';

/** Public facts about this server that a page needs before anyone signs in. */
@Controller('api')
export class SystemController {
  /** The protocol version this server speaks: a page served by an older build asks its user to reload. */
  @Get('version')
  version(): SystemPong {
    return { protocolVersion: PROTOCOL_VERSION, serverTime: new Date().toISOString() };
  }
}
