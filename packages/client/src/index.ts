export * from './parley-client.js';
