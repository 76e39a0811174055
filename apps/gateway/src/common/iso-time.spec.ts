import { isoTime } from './iso-time.js';

describe('isoTime', () => {
  it('answers as toISOString does, for the same instant asked again, another instant, and a Date changed in place', () => {
    const instants = [0, 1_796_488_088_532, 1_796_488_088_532, 1_796_488_088_533, -1, 0].map((time) => new Date(time));
    for (const date of instants) expect(isoTime(date)).toBe(date.toISOString());

    const date = new Date(1_000);
    expect(isoTime(date)).toBe('1970-01-01T00:00:01.000Z');
    date.setTime(2_000);
    expect(isoTime(date)).toBe('1970-01-01T00:00:02.000Z');
  });
});
