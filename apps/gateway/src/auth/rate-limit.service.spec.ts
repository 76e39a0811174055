import { Logger } from '@nestjs/common';
import { mockOf } from '../../test/mocks.js';
import { loadConfig } from '../config.js';
import type { AuthAttemptsRepository } from './auth-attempts.repository.js';
import { RateLimitService } from './rate-limit.service.js';

describe(RateLimitService.name, () => {
  beforeAll(() => Logger.overrideLogger(false));

  let attempts: jest.Mocked<AuthAttemptsRepository>;
  let sut: RateLimitService;

  beforeEach(() => {
    attempts = mockOf<AuthAttemptsRepository>();
    sut = new RateLimitService(attempts, loadConfig({ SIGN_IN_MAX_FAILURES_PER_ACCOUNT: '5', SIGN_IN_MAX_FAILURES_PER_IP: '20', SIGN_IN_FAILURE_WINDOW_MINUTES: '15' }));
  });

  it('counts a sign-in against the account and the IP address with the configured limits', async () => {
    attempts.recordAndCount.mockResolvedValue({ ids: ['1', '2'], counts: [5, 20] });

    const attempt = await sut.startCredentialAttempt('account', 'abc', '10.0.0.1');

    expect(attempts.recordAndCount).toHaveBeenCalledWith([
      { scope: 'account', subject: 'abc', limit: 5, windowMinutes: 15 },
      { scope: 'ip', subject: '10.0.0.1', limit: 20, windowMinutes: 15 },
    ]);
    expect(attempt.ids).toEqual(['1', '2']);
  });

  it('refuses an attempt over either limit and forgets it, so refusals do not prolong the lock-out', async () => {
    attempts.recordAndCount.mockResolvedValue({ ids: ['1', '2'], counts: [1, 21] });

    await expect(sut.startCredentialAttempt('account', 'abc', '10.0.0.1')).rejects.toMatchObject({ code: 'rate_limited' });
    expect(attempts.forget).toHaveBeenCalledWith(['1', '2']);
  });

  it('forgets a successful attempt and the earlier failures of its account, but not of its IP address', async () => {
    attempts.recordAndCount.mockResolvedValue({ ids: ['1', '2'], counts: [3, 3] });
    const attempt = await sut.startCredentialAttempt('account', 'abc', '10.0.0.1');

    await sut.succeeded(attempt);

    expect(attempts.forget).toHaveBeenCalledWith(['1', '2']);
    expect(attempts.forgetSubject).toHaveBeenCalledTimes(1);
    expect(attempts.forgetSubject).toHaveBeenCalledWith('account', 'abc');
  });
});
