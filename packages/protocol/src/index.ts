export * from './version.js';
export * from './errors.js';
export * from './ack.js';
export * from './system.js';
export * from './events.js';
