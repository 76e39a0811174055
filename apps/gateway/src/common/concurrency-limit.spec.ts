import { ConcurrencyLimit } from './concurrency-limit.js';

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('ConcurrencyLimit', () => {
  it('runs at most `limit` tasks at once and the others in arrival order', async () => {
    const limit = new ConcurrencyLimit(2, 10);
    let running = 0;
    let most = 0;
    const started: number[] = [];
    await Promise.all(
      [0, 1, 2, 3, 4, 5].map((n) =>
        limit.run(async () => {
          started.push(n);
          running += 1;
          most = Math.max(most, running);
          await pause(5);
          running -= 1;
        }),
      ),
    );
    expect(most).toBe(2);
    expect(started).toEqual([0, 1, 2, 3, 4, 5]);
    expect(limit.queued).toBe(0);
  });

  it('refuses at once with rate_limited beyond maxWaiting, and frees the turn of a task that failed', async () => {
    const limit = new ConcurrencyLimit(1, 1);
    const results = await Promise.allSettled([
      limit.run(async () => {
        await pause(5);
        throw new Error('failed');
      }),
      limit.run(async () => 'second'),
      limit.run(async () => 'third'),
    ]);
    expect(results[0]).toMatchObject({ status: 'rejected', reason: { message: 'failed' } });
    expect(results[1]).toEqual({ status: 'fulfilled', value: 'second' });
    expect(results[2]).toMatchObject({ status: 'rejected', reason: { code: 'rate_limited' } });
    expect(await limit.run(async () => 'after')).toBe('after');
  });
});
