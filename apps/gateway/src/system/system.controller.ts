import { Controller, Get, Inject } from '@nestjs/common';
import { PROTOCOL_VERSION, type SystemPong } from '@parley/protocol';
import { APP_CONFIG, type AppConfig } from '../config.js';

/** Public facts about this server that a page needs before anyone signs in. */
@Controller('api')
export class SystemController {
  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {}

  /**
   * The protocol version this server speaks (a page served by an older build asks its user to reload), and
   * where patients open the app (invitation links made on a staff origin of its own point there).
   */
  @Get('version')
  version(): SystemPong {
    const patientAppUrl = this.config.publicUrl ? new URL('/', this.config.publicUrl).href : null;
    return { protocolVersion: PROTOCOL_VERSION, serverTime: new Date().toISOString(), patientAppUrl };
  }
}
