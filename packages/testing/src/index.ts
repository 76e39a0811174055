export * from './browser.js';
export * from './database.js';
export * from './exif.js';
export * from './gateway-process.js';
export * from './redis.js';
export * from './source-address.js';
export * from './tcp-proxy.js';
export * from './test-gateway.js';
