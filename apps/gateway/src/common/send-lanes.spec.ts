import { Clock, FakeClock } from './clock.js';
import { DomainError } from './domain-error.js';
import { OWED_TTL_MS, SendLanes, type SendIdentity } from './send-lanes.js';

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const send = (seq: number): SendIdentity => ({ clientMessageId: `message-${seq}`, senderDeviceSeq: seq });
const codeOf = (result: PromiseSettledResult<unknown>) =>
  result.status === 'rejected' ? ((result.reason as Partial<DomainError>).code ?? 'internal') : 'stored';

/** A lane that stores what it admits, and can be told to fail some sends retryably. */
function recordingLane(lanes: SendLanes, failing: Set<number> = new Set()) {
  const stored: number[] = [];
  const run = (seq: number) =>
    lanes.run('device/conversation', send(seq), async (admit) => {
      if (failing.delete(seq)) throw new DomainError('rate_limited');
      stored.push(seq);
      admit();
      return seq;
    });
  return { stored, run };
}

describe('SendLanes', () => {
  it('admits the sends of one lane in the order they entered, however long each one checks', async () => {
    const lanes = new SendLanes(new Clock());
    const admitted: number[] = [];
    // The first sends check longest: without the lane they would be admitted last.
    const sends = [40, 30, 20, 10, 0].map((checkMs, index) =>
      lanes.run('device/conversation', send(index + 1), async (admit) => {
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
    const lanes = new SendLanes(new Clock());
    const events: string[] = [];
    let commitFirst!: () => void;
    const first = lanes.run('lane', send(1), async (admit) => {
      admit();
      events.push('first admitted');
      await new Promise<void>((resolve) => (commitFirst = resolve));
      events.push('first committed');
    });
    await lanes.run('lane', send(2), async () => {
      events.push('second checked');
    });
    commitFirst();
    await first;
    expect(events).toEqual(['first admitted', 'second checked', 'first committed']);
  });

  it('keeps lanes apart: a slow send of one device holds back no other device', async () => {
    const lanes = new SendLanes(new Clock());
    const done: string[] = [];
    const slow = lanes.run('a', send(1), async () => {
      await pause(30);
      done.push('a');
    });
    await lanes.run('b', send(1), async () => {
      done.push('b');
    });
    await slow;
    expect(done).toEqual(['b', 'a']);
  });

  it('fails the sends queued behind one that failed retryably, so that none is stored ahead of it', async () => {
    const lanes = new SendLanes(new Clock());
    const lane = recordingLane(lanes, new Set([1]));
    const results = await Promise.allSettled([1, 2, 3].map(lane.run));
    expect(results.map(codeOf)).toEqual(['rate_limited', 'rate_limited', 'rate_limited']);
    expect(lane.stored).toEqual([]);
    // The resends, in order, go through.
    expect((await Promise.allSettled([1, 2, 3].map(lane.run))).map(codeOf)).toEqual(['stored', 'stored', 'stored']);
    expect(lane.stored).toEqual([1, 2, 3]);
    expect(lanes.size).toBe(0);
  });

  it('refuses a later send that arrives after the failure was answered, until the failed one is sent again', async () => {
    const lanes = new SendLanes(new Clock());
    const lane = recordingLane(lanes, new Set([1]));
    await expect(lane.run(1)).rejects.toMatchObject({ code: 'rate_limited' });
    // The lane is idle now, but 2 was already on its way when 1's refusal reached the client.
    await expect(lane.run(2)).rejects.toMatchObject({ code: 'rate_limited' });
    // A resend out of order is refused again; in order, both go.
    await expect(lane.run(2)).rejects.toMatchObject({ code: 'rate_limited' });
    await lane.run(1);
    await lane.run(2);
    expect(lane.stored).toEqual([1, 2]);
  });

  it('takes the owed resends by sender sequence, whatever order they failed in', async () => {
    const lanes = new SendLanes(new Clock());
    const lane = recordingLane(lanes);
    lanes.refused('device/conversation', send(3));
    lanes.refused('device/conversation', send(2));
    await expect(lane.run(3)).rejects.toMatchObject({ code: 'rate_limited' });
    await lane.run(2);
    await lane.run(3);
    await lane.run(4);
    expect(lane.stored).toEqual([2, 3, 4]);
  });

  it('holds the later sends of a device after the flood limit refused one (refused before its lane)', async () => {
    const lanes = new SendLanes(new Clock());
    const lane = recordingLane(lanes);
    lanes.refused('device/conversation', send(1));
    await expect(lane.run(2)).rejects.toMatchObject({ code: 'rate_limited' });
    await lane.run(1);
    await lane.run(2);
    expect(lane.stored).toEqual([1, 2]);
  });

  it('refuses to queue a send whose earlier one failed after it was queued (its batch failed)', async () => {
    const lanes = new SendLanes(new Clock());
    let failFirst!: () => void;
    const first = lanes.run('lane', send(1), async (admit) => {
      admit();
      await new Promise<void>((resolve) => (failFirst = resolve));
      // The record tells the lanes at once when a batch fails, before its callers hear of it.
      lanes.failed('lane', send(1));
      throw new Error('batch failed');
    });
    const second = lanes.run('lane', send(2), async (admit) => {
      await new Promise((resolve) => setTimeout(resolve, 10)); // its checks, while the first one's batch fails
      admit();
      return 'queued';
    });
    failFirst();
    expect((await Promise.allSettled([first, second])).map(codeOf)).toEqual(['internal', 'rate_limited']);
  });

  it('lets a lower send through while a higher one is owed, and does not owe a refused copy of a send it admitted', async () => {
    const lanes = new SendLanes(new Clock());
    const lane = recordingLane(lanes);
    await lane.run(1);
    // A late copy of 1 refused by the flood limit (an outbox retry racing its ack): 1 is stored, nothing is owed.
    lanes.refused('device/conversation', send(1));
    await lane.run(2);
    // 4 refused: 3 (lost on the way, say) still goes before it, then 4, then 5.
    lanes.refused('device/conversation', send(4));
    await expect(lane.run(5)).rejects.toMatchObject({ code: 'rate_limited' });
    await lane.run(3);
    await lane.run(4);
    await lane.run(5);
    expect(lane.stored).toEqual([1, 2, 3, 4, 5]);
  });

  it('does not hold the others back for a send refused for good, nor for a malformed one', async () => {
    const lanes = new SendLanes(new Clock());
    const stored: number[] = [];
    const results = await Promise.allSettled([
      lanes.run('lane', send(1), async () => {
        throw new DomainError('forbidden');
      }),
      lanes.run('lane', undefined, async () => {
        throw new DomainError('rate_limited');
      }),
      lanes.run('lane', send(2), async (admit) => {
        stored.push(2);
        admit();
      }),
    ]);
    expect(results.map(codeOf)).toEqual(['forbidden', 'rate_limited', 'stored']);
    expect(stored).toEqual([2]);
  });

  it('treats an unexpected error as retryable (answered `internal`, which clients send again)', async () => {
    const lanes = new SendLanes(new Clock());
    const results = await Promise.allSettled([
      lanes.run('lane', send(1), async () => {
        throw new Error('connection reset');
      }),
      lanes.run('lane', send(2), async () => 'stored'),
    ]);
    expect(results[1]).toMatchObject({ status: 'rejected', reason: { code: 'rate_limited' } });
  });

  it('forgets what it is owed after OWED_TTL_MS (the device gave up, or resends through another node)', async () => {
    const clock = new FakeClock();
    const lanes = new SendLanes(clock);
    const lane = recordingLane(lanes);
    lanes.refused('device/conversation', send(1));
    await expect(lane.run(2)).rejects.toMatchObject({ code: 'rate_limited' });
    clock.advance(OWED_TTL_MS + 1);
    await lane.run(3);
    expect(lane.stored).toEqual([3]);
    expect(lanes.size).toBe(0);
  });
});
