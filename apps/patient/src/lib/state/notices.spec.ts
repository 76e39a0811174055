import { describeError } from './notices.js';

describe(describeError.name, () => {
  it('says how long to wait when the gateway said, in seconds under a minute and whole minutes above', () => {
    expect(describeError('rate_limited', undefined, 8)).toBe('Too many attempts. Please try again in 8 seconds.');
    expect(describeError('rate_limited', undefined, 61)).toBe('Too many attempts. Please try again in 2 minutes.');
    expect(describeError('rate_limited', undefined, 900)).toBe('Too many attempts. Please try again in 15 minutes.');
    expect(describeError('rate_limited')).toBe('Too many attempts. Please wait a few minutes before trying again.');
  });

  it('sends a patient with a voided invitation to the practice for a new one', () => {
    expect(describeError('invitation_voided')).toMatch(/ask your practice for a new invitation/);
  });
});
