import { Injectable, Logger } from '@nestjs/common';
import type { Actor } from '../common/actor.js';
import { isStaff } from '../common/actor.js';
import { DevicesService } from '../devices/devices.service.js';
import { SessionsService } from '../sessions/sessions.service.js';

/**
 * Signing out. For a patient, sign-out also revokes the device (docs/patient-client.md, "Privacy controls"): the
 * app wipes its keys, so the device can never be used again, and a revoked device gets no new epoch keys, while
 * signing in again enrols a fresh device from the passphrase backup (flow A). A member of staff's device stays:
 * a manager admitted it with a root-signed certificate, and its key file moves it; only the session ends.
 */
@Injectable()
export class SignOutService {
  private readonly logger = new Logger(SignOutService.name);

  constructor(
    private readonly sessions: SessionsService,
    private readonly devices: DevicesService,
  ) {}

  /** Ends the caller's session (its sockets told `signed_out`); a patient's device is then revoked (its other sessions and sockets end, audited). */
  async signOut(actor: Actor): Promise<void> {
    await this.sessions.signOut(actor);
    if (isStaff(actor)) return;
    await this.devices.revoke(actor, actor.deviceId);
    this.logger.log({ userId: actor.userId, deviceId: actor.deviceId }, 'patient signed out: device revoked');
  }

  /**
   * Ends every session of the caller on every device; a patient's devices are all revoked too (a lost or shared
   * phone: none of them is used again, and new epochs are sealed to none of them).
   */
  async signOutEverywhere(actor: Actor): Promise<void> {
    await this.sessions.signOutEverywhere(actor);
    if (isStaff(actor)) return;
    const active = (await this.devices.list(actor)).filter((device) => device.revokedAt === null);
    for (const device of active) await this.devices.revoke(actor, device.id);
    this.logger.log({ userId: actor.userId, devicesRevoked: active.length }, 'patient signed out everywhere: devices revoked');
  }
}
