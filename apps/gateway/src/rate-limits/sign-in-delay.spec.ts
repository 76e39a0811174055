import { MAX_DELAY_SECONDS, signInDelaySeconds, wholeSecondsToWait } from './sign-in-delay.js';

describe('signInDelaySeconds', () => {
  it('asks no delay for the free failures', () => {
    expect([0, 1, 4].map((failures) => signInDelaySeconds(failures, 5))).toEqual([0, 0, 0]);
  });

  it('then doubles from one second with each failure', () => {
    expect([5, 6, 7, 8, 12].map((failures) => signInDelaySeconds(failures, 5))).toEqual([1, 2, 4, 8, 128]);
  });

  it('never asks more than the cap, however long the attack', () => {
    expect(signInDelaySeconds(15, 5)).toBe(MAX_DELAY_SECONDS);
    expect(signInDelaySeconds(1_000_000, 5)).toBe(MAX_DELAY_SECONDS);
  });
});

describe('wholeSecondsToWait', () => {
  it('rounds up, and is at least one second', () => {
    expect([0, 0.2, 1, 1.01].map(wholeSecondsToWait)).toEqual([1, 1, 1, 2]);
  });
});
