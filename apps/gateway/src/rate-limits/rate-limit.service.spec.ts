import { Logger } from '@nestjs/common';
import { mockOf } from '../../test/mocks.js';
import { loadConfig } from '../config.js';
import type { AttemptCounts, AuthAttemptsRepository } from './auth-attempts.repository.js';
import { RateLimitService } from './rate-limit.service.js';

/** What the repository answers for an account sign-in from one address. */
const counted = (account: number, ip: number, previousAgeSeconds: number | null = null, oldestIpAgeSeconds = 60): AttemptCounts => ({
  ids: ['1', '2'],
  counts: [account, ip],
  oldestAgeSeconds: [0, oldestIpAgeSeconds],
  previousAgeSeconds: [previousAgeSeconds, previousAgeSeconds],
});

describe(RateLimitService.name, () => {
  beforeAll(() => Logger.overrideLogger(false));

  let attempts: jest.Mocked<AuthAttemptsRepository>;
  let sut: RateLimitService;

  beforeEach(() => {
    attempts = mockOf<AuthAttemptsRepository>();
    sut = new RateLimitService(
      attempts,
      loadConfig({ SIGN_IN_MAX_FAILURES_PER_ACCOUNT: '5', SIGN_IN_MAX_FAILURES_PER_IP: '20', SIGN_IN_FAILURE_WINDOW_MINUTES: '15' }),
    );
  });

  it('counts a sign-in against the account for a day and the IP address in its window', async () => {
    attempts.recordAndCount.mockResolvedValue(counted(5, 20, 0));

    const attempt = await sut.startCredentialAttempt('account', 'abc', '10.0.0.1');

    expect(attempts.recordAndCount).toHaveBeenCalledWith([
      { scope: 'account', subject: 'abc', limit: 5, windowMinutes: 1440 },
      { scope: 'ip', subject: '10.0.0.1', limit: 20, windowMinutes: 15 },
    ]);
    expect(attempt.ids).toEqual(['1', '2']);
  });

  it('makes an account wait after its free failures, saying how long, and forgets the refused attempt', async () => {
    attempts.recordAndCount.mockResolvedValue(counted(8, 8, 1.5));

    // Seven failures before this one, two past the five free ones: 1 s doubled twice is 4 s, 1.5 s of it gone.
    await expect(sut.startCredentialAttempt('account', 'abc', '10.0.0.1')).rejects.toMatchObject({ code: 'rate_limited', details: { retryAfterSeconds: 3 } });
    expect(attempts.forget).toHaveBeenCalledWith(['1', '2']);
  });

  it('lets an account try again once its delay has passed', async () => {
    attempts.recordAndCount.mockResolvedValue(counted(8, 8, 4));

    await expect(sut.startCredentialAttempt('account', 'abc', '10.0.0.1')).resolves.toMatchObject({ ids: ['1', '2'] });
  });

  it('refuses an address over its limit until the window moves past its oldest failure', async () => {
    attempts.recordAndCount.mockResolvedValue(counted(1, 21, null, 600));

    await expect(sut.startCredentialAttempt('account', 'abc', '10.0.0.1')).rejects.toMatchObject({ code: 'rate_limited', details: { retryAfterSeconds: 300 } });
    expect(attempts.forget).toHaveBeenCalledWith(['1', '2']);
  });

  it('forgets a successful attempt and the earlier failures of its account, but not of its IP address', async () => {
    attempts.recordAndCount.mockResolvedValue(counted(3, 3, 10));
    const attempt = await sut.startCredentialAttempt('account', 'abc', '10.0.0.1');

    await sut.succeeded(attempt);

    expect(attempts.forget).toHaveBeenCalledWith(['1', '2']);
    expect(attempts.forgetSubject).toHaveBeenCalledTimes(1);
    expect(attempts.forgetSubject).toHaveBeenCalledWith('account', 'abc');
  });
});
