import { DomainError } from '../common/domain-error.js';
import { SendLanes } from './send-lanes.js';

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('SendLanes', () => {
  it('admits the sends of one lane in the order they entered, however long each one checks', async () => {
    const lanes = new SendLanes();
    const admitted: number[] = [];
    // The first sends check longest: without the lane they would be admitted last.
    const sends = [40, 30, 20, 10, 0].map((checkMs, index) =>
      lanes.run('device/conversation', async (admit) => {
        await pause(checkMs);
        admitted.push(index);
        admit();
        await pause(5); // the record's commit: the next send does not wait for it
        return index;
      }),
    );
    expect(await Promise.all(sends)).toEqual([0, 1, 2, 3, 4]);
    expect(admitted).toEqual([0, 1, 2, 3, 4]);
    expect(lanes.size).toBe(0);
  });

  it('lets a send go ahead once the one before is admitted, before that one commits', async () => {
    const lanes = new SendLanes();
    const events: string[] = [];
    let commitFirst!: () => void;
    const first = lanes.run('lane', async (admit) => {
      admit();
      events.push('first admitted');
      await new Promise<void>((resolve) => (commitFirst = resolve));
      events.push('first committed');
    });
    const second = lanes.run('lane', async () => {
      events.push('second checked');
    });
    await second;
    commitFirst();
    await first;
    expect(events).toEqual(['first admitted', 'second checked', 'first committed']);
  });

  it('keeps lanes apart: a slow send of one device holds back no other device', async () => {
    const lanes = new SendLanes();
    const done: string[] = [];
    const slow = lanes.run('a', async () => {
      await pause(30);
      done.push('a');
    });
    await lanes.run('b', async () => {
      done.push('b');
    });
    await slow;
    expect(done).toEqual(['b', 'a']);
  });

  it('fails the sends queued behind one that failed retryably, so that none is stored ahead of it', async () => {
    const lanes = new SendLanes();
    const stored: number[] = [];
    const results = await Promise.allSettled(
      [0, 1, 2].map((index) =>
        lanes.run('lane', async (admit) => {
          if (index === 0) throw new DomainError('rate_limited');
          stored.push(index);
          admit();
        }),
      ),
    );
    expect(results.map((result) => result.status)).toEqual(['rejected', 'rejected', 'rejected']);
    expect(results.map((result) => (result.status === 'rejected' ? (result.reason as DomainError).code : null))).toEqual([
      'rate_limited',
      'rate_limited',
      'rate_limited',
    ]);
    expect(stored).toEqual([]);
    // Once the lane has drained, the client's resend goes through.
    await lanes.run('lane', async (admit) => {
      stored.push(0);
      admit();
    });
    expect(stored).toEqual([0]);
  });

  it('does not hold the others back for a send refused for good', async () => {
    const lanes = new SendLanes();
    const stored: number[] = [];
    const results = await Promise.allSettled(
      [0, 1].map((index) =>
        lanes.run('lane', async (admit) => {
          if (index === 0) throw new DomainError('forbidden');
          stored.push(index);
          admit();
        }),
      ),
    );
    expect(results.map((result) => result.status)).toEqual(['rejected', 'fulfilled']);
    expect(stored).toEqual([1]);
  });

  it('treats an unexpected error as retryable (answered `internal`, which clients send again)', async () => {
    const lanes = new SendLanes();
    const results = await Promise.allSettled([
      lanes.run('lane', async () => {
        throw new Error('connection reset');
      }),
      lanes.run('lane', async () => 'stored'),
    ]);
    expect(results[1]).toMatchObject({ status: 'rejected', reason: { code: 'rate_limited' } });
  });
});
