export * from './parley-client.js';
export * from './parley-connection-error.js';
export * from './http-api.js';
export * from './outbox.js';
export * from './memory-outbox-store.js';
export * from './conversation-feed.js';
export * from './memory-feed-cursor-store.js';
export { jitteredDelay } from './backoff.js';
export type { BackoffOptions } from './backoff.js';
