import { SocketRateLimiter, TokenBucket } from './socket-rate-limit.js';

const LIMITS = { socketEventsPerSecond: 10, socketEventBurst: 5, userEventsPerSecond: 10, userEventBurst: 8, connectionsPerIpPerMinute: 3 };

describe(SocketRateLimiter.name, () => {
  let now = 0;
  const clock = () => now;

  beforeEach(() => {
    now = 1_000_000;
  });

  it('lets a socket burst up to its limit, refuses the next event, and refills with time', () => {
    const sut = new SocketRateLimiter(LIMITS, clock);
    const socket = sut.socketBucket();

    const burst = Array.from({ length: 6 }, () => sut.allowEvent(socket, 'user-1'));
    now += 200;
    const afterRefill = [sut.allowEvent(socket, 'user-1'), sut.allowEvent(socket, 'user-1'), sut.allowEvent(socket, 'user-1')];

    expect(burst).toEqual([true, true, true, true, true, false]);
    expect(afterRefill).toEqual([true, true, false]);
  });

  it('limits a user across their sockets, and leaves other users alone', () => {
    const sut = new SocketRateLimiter(LIMITS, clock);
    const [first, second, other] = [sut.socketBucket(), sut.socketBucket(), sut.socketBucket()];

    const userAnswers = [
      ...Array.from({ length: 5 }, () => sut.allowEvent(first, 'user-1')),
      ...Array.from({ length: 5 }, () => sut.allowEvent(second, 'user-1')),
    ];

    expect(userAnswers.filter(Boolean)).toHaveLength(8);
    expect(userAnswers.slice(8)).toEqual([false, false]);
    expect(sut.allowEvent(other, 'user-2')).toBe(true);
  });

  it('refuses a connection storm from one address, not from another', () => {
    const sut = new SocketRateLimiter(LIMITS, clock);

    const storm = Array.from({ length: 4 }, () => sut.allowConnection('10.0.0.1'));

    expect(storm).toEqual([true, true, true, false]);
    expect(sut.allowConnection('10.0.0.2')).toBe(true);
    now += 20_000;
    expect(sut.allowConnection('10.0.0.1')).toBe(true);
  });
});

describe(TokenBucket.name, () => {
  it('never holds more than its burst however long it waits', () => {
    let now = 0;
    const sut = new TokenBucket(100, 2, () => now);
    now += 60_000;

    expect([sut.take(), sut.take(), sut.take()]).toEqual([true, true, false]);
    expect(sut.isFull).toBe(false);
  });
});
