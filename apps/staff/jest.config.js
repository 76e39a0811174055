import base from '../../jest.base.js';

export default {
  ...base,
  testMatch: ['<rootDir>/test/**/*.spec.ts'],
  testTimeout: 60_000,
  // Two files at a time: a staff file spends much of its time waiting (on the gateway, the browser, timers), and two
  // at once took the suite from 413 s to 262–307 s on a two-core machine. (The patient app's files keep both cores
  // busy alone: two at once gained nothing there, 240 s against 247 s, so it keeps jest's one worker.)
  maxWorkers: 2,
};
