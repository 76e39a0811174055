// @parley/web: browser-only storage and session helpers shared by the patient and staff apps (see README.md).
export { WebDatabase, DEFAULT_DATABASE_NAME, STORES } from './web-database.js';
export { DeviceVault } from './device-vault.js';
export type { VaultSaveOptions } from './device-vault.js';
export { encodeSecret, decodeSecret } from './secret-codec.js';
export type { SecretValue } from './secret-codec.js';
export { IndexedDbOutboxStore } from './indexed-db-outbox-store.js';
export { IndexedDbFeedCursorStore } from './indexed-db-feed-cursor-store.js';
export { TabLock } from './tab-lock.js';
export { IdleTimer, ACTIVITY_EVENTS } from './idle-timer.js';
export type { IdleTimerOptions } from './idle-timer.js';
export { SecretLock, WrongSecretError, isLockedSecret } from './secret-lock.js';
export type { LockedSecret, SecretLockKdf } from './secret-lock.js';
export { sniffAttachmentType, reencodeImage, safeImageBlob, ImageReencodeError, REENCODE_MAX_EDGE, REENCODE_QUALITY } from './images.js';
export type { SniffedType, ImageType } from './images.js';
