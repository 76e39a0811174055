export * from './version.js';
export * from './errors.js';
export * from './ack.js';
export * from './common.js';
export * from './system.js';
export * from './auth.js';
export * from './conversation.js';
export * from './events.js';
