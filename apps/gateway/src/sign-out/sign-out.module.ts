import { Module } from '@nestjs/common';
import { DevicesModule } from '../devices/devices.module.js';
import { SessionsModule } from '../sessions/sessions.module.js';
import { SignOutController } from './sign-out.controller.js';
import { SignOutService } from './sign-out.service.js';

/**
 * Sign-out and sign-out everywhere: ends sessions through `sessions` and revokes a patient's devices through
 * `devices`. A feature of its own because `devices` imports `sessions` (to end a revoked device's sockets), so
 * `sessions` cannot import `devices` back.
 */
@Module({
  imports: [SessionsModule, DevicesModule],
  controllers: [SignOutController],
  providers: [SignOutService],
})
export class SignOutModule {}
