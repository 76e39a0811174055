import { InvalidatedCache } from './invalidated-cache.js';

// jest's ESM mode has no global `jest`; each module gets its own on import.meta.
const jestObject = (import.meta as unknown as { jest: typeof jest }).jest;

/** A load the test resolves when it chooses, counting how often the database was asked. */
function controlledLoads<V>() {
  const pending: { key: string; resolve: (value: V | undefined) => void }[] = [];
  const load = jestObject.fn((key: string) => new Promise<V | undefined>((resolve) => pending.push({ key, resolve })));
  return { load, pending };
}

const instantLoad = (values: Record<string, string>) => jestObject.fn((key: string) => Promise.resolve(values[key]));

describe(InvalidatedCache.name, () => {
  const listening = { isListening: true };
  beforeEach(() => {
    listening.isListening = true;
  });

  it('reads a key once, then answers it from memory', async () => {
    const load = instantLoad({ a: 'A' });
    const cache = new InvalidatedCache<string, string>(listening, 10);

    const answers = [await cache.get('a', load), await cache.get('a', load), await cache.get('a', load)];

    expect(answers).toEqual(['A', 'A', 'A']);
    expect(load).toHaveBeenCalledTimes(1);
  });

  it('reads the key again after it is invalidated, and only that key', async () => {
    const values = { a: 'A1', b: 'B1' };
    const load = instantLoad(values);
    const cache = new InvalidatedCache<string, string>(listening, 10);
    await cache.get('a', load);
    await cache.get('b', load);

    values.a = 'A2';
    values.b = 'B2';
    cache.invalidate('a');

    expect(await cache.get('a', load)).toBe('A2');
    expect(await cache.get('b', load)).toBe('B1');
    expect(load).toHaveBeenCalledTimes(3);
  });

  it('does not store a value whose load was under way when its key was invalidated (the read-then-invalidate race)', async () => {
    const { load, pending } = controlledLoads<string>();
    const cache = new InvalidatedCache<string, string>(listening, 10);

    const early = cache.get('a', load);
    cache.invalidate('a'); // the change committed after the read began: its notification arrives before the read's answer
    pending[0]!.resolve('old');
    const later = cache.get('a', load);
    pending[1]!.resolve('new');

    expect(await early).toBe('old');
    expect(await later).toBe('new');
    expect(await cache.get('a', load)).toBe('new');
    expect(load).toHaveBeenCalledTimes(2);
  });

  it('lets callers share a load under way, but not one an invalidation made stale', async () => {
    const { load, pending } = controlledLoads<string>();
    const cache = new InvalidatedCache<string, string>(listening, 10);

    const first = cache.get('a', load);
    const joined = cache.get('a', load);
    expect(load).toHaveBeenCalledTimes(1);
    cache.invalidate('a');
    const afterInvalidation = cache.get('a', load);
    pending[0]!.resolve('old');
    pending[1]!.resolve('new');

    expect([await first, await joined, await afterInvalidation]).toEqual(['old', 'old', 'new']);
    expect(load).toHaveBeenCalledTimes(2);
  });

  it('makes every load under way stale on invalidateWhere and clear, whose keys it cannot know yet', async () => {
    const { load, pending } = controlledLoads<string>();
    const cache = new InvalidatedCache<string, string>(listening, 10);

    const a = cache.get('a', load);
    cache.invalidateWhere((value) => value === 'something else');
    pending[0]!.resolve('A');
    await a;
    const b = cache.get('b', load);
    cache.clear();
    pending[1]!.resolve('B');
    await b;

    expect(cache.size).toBe(0);
  });

  it('forgets the values invalidateWhere picks and keeps the others', async () => {
    const load = instantLoad({ a: 'device-1', b: 'device-2', c: 'device-1' });
    const cache = new InvalidatedCache<string, string>(listening, 10);
    for (const key of ['a', 'b', 'c']) await cache.get(key, load);

    cache.invalidateWhere((value) => value === 'device-1');

    expect(cache.size).toBe(1);
    await cache.get('b', load);
    expect(load).toHaveBeenCalledTimes(3);
  });

  it('is bypassed while the listener is not listening: every get reads, nothing is stored, nothing cached is served', async () => {
    const values = { a: 'A1' };
    const load = instantLoad(values);
    const cache = new InvalidatedCache<string, string>(listening, 10);
    await cache.get('a', load);

    listening.isListening = false;
    values.a = 'A2';
    const whileDeaf = [await cache.get('a', load), await cache.get('a', load)];

    expect(whileDeaf).toEqual(['A2', 'A2']);
    expect(load).toHaveBeenCalledTimes(3);
  });

  it('does not store a value whose load ended while the listener was not listening', async () => {
    const { load, pending } = controlledLoads<string>();
    const cache = new InvalidatedCache<string, string>(listening, 10);

    const answer = cache.get('a', load);
    listening.isListening = false;
    pending[0]!.resolve('A');
    await answer;

    expect(cache.size).toBe(0);
  });

  it('never stores a missing row, so a row created later is found without a notification', async () => {
    const values: Record<string, string> = {};
    const load = instantLoad(values);
    const cache = new InvalidatedCache<string, string>(listening, 10);

    expect(await cache.get('a', load)).toBeUndefined();
    values['a'] = 'A';
    expect(await cache.get('a', load)).toBe('A');
  });

  it('holds at most maxEntries values, dropping the least recently used', async () => {
    const load = jestObject.fn((key: string) => Promise.resolve(`value of ${key}`));
    const cache = new InvalidatedCache<string, string>(listening, 3);

    for (const key of ['a', 'b', 'c']) await cache.get(key, load);
    await cache.get('a', load); // a is now the most recently used
    await cache.get('d', load); // so b goes, not a
    load.mockClear();
    await cache.get('a', load);
    await cache.get('c', load);
    expect(load).not.toHaveBeenCalled();
    await cache.get('b', load);
    expect(load).toHaveBeenCalledTimes(1);

    for (let i = 0; i < 1_000; i += 1) await cache.get(`k${i}`, load);
    expect(cache.size).toBe(3);
  });

  it('passes a failed load on and stores nothing', async () => {
    const cache = new InvalidatedCache<string, string>(listening, 3);
    const failing = jestObject.fn(() => Promise.reject(new Error('database down')));

    await expect(cache.get('a', failing)).rejects.toThrow('database down');
    expect(await cache.get('a', instantLoad({ a: 'A' }))).toBe('A');
  });

  describe('offer (a value read another way, its key unknown until the read answered)', () => {
    it('stores the value when nothing was invalidated since the mark: the next get reads nothing', async () => {
      const cache = new InvalidatedCache<string, string>(listening, 10);
      const load = instantLoad({ a: 'from the database' });
      const mark = cache.mark;

      cache.offer('a', 'offered', mark);

      expect(await cache.get('a', load)).toBe('offered');
      expect(load).not.toHaveBeenCalled();
    });

    it.each([
      ['any key was invalidated', (cache: InvalidatedCache<string, string>) => cache.invalidate('other')],
      ['invalidateWhere ran, even picking nothing', (cache: InvalidatedCache<string, string>) => cache.invalidateWhere(() => false)],
      ['the cache was cleared', (cache: InvalidatedCache<string, string>) => cache.clear()],
    ])('stores nothing when %s since the mark', async (_, invalidate) => {
      const cache = new InvalidatedCache<string, string>(listening, 10);
      const load = instantLoad({ a: 'from the database' });
      const mark = cache.mark;

      invalidate(cache);
      cache.offer('a', 'offered', mark);

      expect(await cache.get('a', load)).toBe('from the database');
      expect(load).toHaveBeenCalledTimes(1);
    });

    it('stores nothing while the listener is not listening', async () => {
      const cache = new InvalidatedCache<string, string>(listening, 10);
      const mark = cache.mark;
      listening.isListening = false;

      cache.offer('a', 'offered', mark);
      listening.isListening = true;

      expect(cache.size).toBe(0);
    });

    it('stays within maxEntries, dropping the least recently used', async () => {
      const cache = new InvalidatedCache<string, string>(listening, 2);
      for (const key of ['a', 'b', 'c']) cache.offer(key, key.toUpperCase(), cache.mark);
      const load = instantLoad({ a: 'A again' });

      expect(cache.size).toBe(2);
      expect(await cache.get('a', load)).toBe('A again');
    });
  });

  it('refuses a bound that is not a positive integer', () => {
    expect(() => new InvalidatedCache(listening, 0)).toThrow(RangeError);
  });
});
