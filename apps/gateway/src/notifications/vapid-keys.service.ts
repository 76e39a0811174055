import { Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import webPush from 'web-push';
import { PushSubscriptionsRepository, type VapidKeyPair } from './push-subscriptions.repository.js';

/**
 * The deployment's VAPID key pair (RFC 8292), which signs every push request: made at first start and kept in the
 * database, so every node signs with the same key (docs/operations.md, "Push notifications"). Rotation is a command
 * (`vapid:rotate`); a node picks the new key up when a push under the old one fails or it restarts.
 */
@Injectable()
export class VapidKeysService implements OnModuleInit {
  private readonly logger = new Logger(VapidKeysService.name);
  private current: VapidKeyPair | undefined;

  constructor(private readonly subscriptions: PushSubscriptionsRepository) {}

  async onModuleInit(): Promise<void> {
    this.current = (await this.subscriptions.currentKey()) ?? (await this.subscriptions.ensureKey(generateKeyPair()));
    this.logger.log({ vapidKeyId: this.current.id }, 'VAPID key ready');
  }

  /** The current key pair (read from the database again: another node or the rotation command may have changed it). */
  async currentKey(): Promise<VapidKeyPair> {
    const stored = await this.subscriptions.currentKey();
    this.current = stored ?? (await this.subscriptions.ensureKey(generateKeyPair()));
    return this.current;
  }
}

/** A fresh P-256 key pair in the base64url forms VAPID uses. */
export function generateKeyPair(): Omit<VapidKeyPair, 'id'> {
  const { publicKey, privateKey } = webPush.generateVAPIDKeys();
  return { publicKey, privateKey };
}
