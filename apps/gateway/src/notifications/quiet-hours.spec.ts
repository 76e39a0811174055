import { releaseTime } from './quiet-hours.js';

describe(releaseTime.name, () => {
  const zone = 'Europe/London';
  const night = { start: '22:00', end: '07:00' };

  it('lets a notice go at once when the practice has no quiet hours', () => {
    const now = new Date('2026-12-05T23:30:00Z');

    expect(releaseTime(now, null, zone)).toEqual(now);
  });

  it('lets a notice go at once outside the quiet hours', () => {
    const now = new Date('2026-12-05T12:00:00Z');

    expect(releaseTime(now, night, zone)).toEqual(now);
  });

  it('holds a notice of the evening until the end of the quiet hours the next morning', () => {
    expect(releaseTime(new Date('2026-12-05T22:30:00Z'), night, zone)).toEqual(new Date('2026-12-06T07:00:00Z'));
  });

  it('holds a notice after midnight until the same morning', () => {
    expect(releaseTime(new Date('2026-12-06T03:00:00Z'), night, zone)).toEqual(new Date('2026-12-06T07:00:00Z'));
  });

  it('counts the start as quiet and the end as not', () => {
    expect(releaseTime(new Date('2026-12-05T22:00:00Z'), night, zone)).toEqual(new Date('2026-12-06T07:00:00Z'));
    expect(releaseTime(new Date('2026-12-06T07:00:00Z'), night, zone)).toEqual(new Date('2026-12-06T07:00:00Z'));
  });

  it('reads the hours in the practice zone in summer time', () => {
    // 21:30 UTC is 22:30 BST: quiet until 07:00 BST, which is 06:00 UTC.
    expect(releaseTime(new Date('2026-07-01T21:30:00Z'), night, zone)).toEqual(new Date('2026-07-02T06:00:00Z'));
  });

  it('handles quiet hours within one day', () => {
    const lunch = { start: '12:00', end: '13:30' };

    expect(releaseTime(new Date('2026-12-05T12:15:00Z'), lunch, zone)).toEqual(new Date('2026-12-05T13:30:00Z'));
    expect(releaseTime(new Date('2026-12-05T13:45:00Z'), lunch, zone)).toEqual(new Date('2026-12-05T13:45:00Z'));
  });

  it('releases on the night the clocks go forward at the right instant', () => {
    // 29 March 2026: 01:00 GMT becomes 02:00 BST. 00:30 GMT is quiet; 07:00 BST is 06:00 UTC.
    expect(releaseTime(new Date('2026-03-29T00:30:00Z'), night, zone)).toEqual(new Date('2026-03-29T06:00:00Z'));
  });
});
