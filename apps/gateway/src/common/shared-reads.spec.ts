import { SharedReads } from './shared-reads.js';

describe(SharedReads.name, () => {
  let now = 0;
  let reads: string[] = [];
  let answers: Record<string, () => Promise<number>> = {};
  const sut = () =>
    new SharedReads<number>(
      1_000,
      (key) => (reads.push(key), answers[key]!()),
      () => now,
    );

  beforeEach(() => {
    now = 0;
    reads = [];
    answers = { a: () => Promise.resolve(reads.length), b: () => Promise.resolve(-reads.length) };
  });

  it('shares one read per key for up to its age, then reads again', async () => {
    const shared = sut();
    const first = await Promise.all([shared.get('a'), shared.get('a'), shared.get('b')]);
    now = 999;
    const stillShared = await shared.get('a');
    now = 1_000;
    const readAgain = await shared.get('a');

    expect(first).toEqual([1, 1, -2]);
    expect(stillShared).toBe(1);
    expect(readAgain).toBe(3);
    expect(reads).toEqual(['a', 'b', 'a']);
  });

  it('reads afresh after forget, for that key only', async () => {
    const shared = sut();
    await Promise.all([shared.get('a'), shared.get('b')]);
    shared.forget('a');

    expect(await shared.get('a')).toBe(3);
    expect(await shared.get('b')).toBe(-2);
    expect(reads).toEqual(['a', 'b', 'a']);
  });

  it('answers a failed read with the last good value while it is at most ten ages old, never one from before a forget', async () => {
    const shared = sut();
    await shared.get('a');
    now = 5_000;
    answers['a'] = () => Promise.reject(new Error('busy'));
    const fellBack = await Promise.all([shared.get('a'), shared.get('a')]);
    now = 11_000;
    const tooOld = await shared.get('a').catch((error: Error) => error.message);
    answers['a'] = () => Promise.resolve(7);
    now = 12_000;
    await shared.get('a');
    shared.forget('a');
    answers['a'] = () => Promise.reject(new Error('busy'));
    const afterForget = await shared.get('a').catch((error: Error) => error.message);

    expect(fellBack).toEqual([1, 1]);
    expect(tooOld).toBe('busy');
    expect(afterForget).toBe('busy');
  });

  it('keeps no failed read: every sharer gets the failure, and the next get reads again', async () => {
    const shared = sut();
    answers['a'] = () => Promise.reject(new Error('busy'));
    const failures = await Promise.allSettled([shared.get('a'), shared.get('a')]);
    answers['a'] = () => Promise.resolve(42);

    expect(failures.map((failure) => failure.status)).toEqual(['rejected', 'rejected']);
    expect(await shared.get('a')).toBe(42);
    expect(reads).toEqual(['a', 'a']);
  });
});
