// First, so it runs before any module below builds a schema (ES modules evaluate imports in order).
import './browser-jitless.js';

export * from './version.js';
export * from './errors.js';
export * from './ack.js';
export * from './common.js';
export * from './system.js';
export * from './auth.js';
export * from './conversation.js';
export * from './epochs.js';
export * from './hours.js';
export * from './queue.js';
export * from './lifecycle.js';
export * from './events.js';
export * from './practice-admin.js';
export * from './staff-console.js';
export * from './record-events.js';
export * from './revocations.js';
export * from './practice-authority.js';
export * from './recovery.js';
export * from './attachments.js';
export * from './notifications.js';
