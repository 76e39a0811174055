import { IdleTimer } from './idle-timer.js';

// ESM jest has no `jest` global: its object hangs off import.meta.
const jest = (import.meta as unknown as { jest: typeof globalThis.jest }).jest;

describe(IdleTimer.name, () => {
  const target = new EventTarget();
  const onIdle = jest.fn();
  let sut: IdleTimer;

  beforeEach(() => {
    jest.useFakeTimers();
    onIdle.mockReset();
    sut = new IdleTimer({ timeoutMs: 60_000, onIdle, target });
  });

  afterEach(() => {
    sut.stop();
    jest.useRealTimers();
  });

  it('calls onIdle once after the quiet period', () => {
    sut.start();

    jest.advanceTimersByTime(59_999);
    expect(onIdle).not.toHaveBeenCalled();
    jest.advanceTimersByTime(1);
    jest.advanceTimersByTime(600_000);

    expect(onIdle).toHaveBeenCalledTimes(1);
  });

  it('restarts the countdown on activity', () => {
    sut.start();

    jest.advanceTimersByTime(50_000);
    target.dispatchEvent(new Event('keydown'));
    jest.advanceTimersByTime(50_000);

    expect(onIdle).not.toHaveBeenCalled();
    jest.advanceTimersByTime(10_000);
    expect(onIdle).toHaveBeenCalledTimes(1);
  });

  it('ignores events that are not activity, and everything once stopped', () => {
    sut.start();

    target.dispatchEvent(new Event('mousemove'));
    target.dispatchEvent(new Event('scroll'));
    jest.advanceTimersByTime(60_000);
    expect(onIdle).toHaveBeenCalledTimes(1);
    sut.start();
    sut.stop();
    target.dispatchEvent(new Event('keydown'));
    jest.advanceTimersByTime(600_000);

    expect(onIdle).toHaveBeenCalledTimes(1);
  });

  it('refuses a timeout that is not positive', () => {
    expect(() => new IdleTimer({ timeoutMs: 0, onIdle, target })).toThrow(RangeError);
  });
});
