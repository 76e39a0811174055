export * from './conversation-crypto.js';
export * from './accounts.js';
