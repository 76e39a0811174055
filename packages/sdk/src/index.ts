export * from './accounts.js';
export * from './chat-session.js';
export * from './conversation-crypto.js';
export * from './practice-keys.js';
export * from './trust.js';
export * from './demo-setup.js';
