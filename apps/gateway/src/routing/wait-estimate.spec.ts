import { DEFAULT_HANDLING_MINUTES, estimateWait, type ReachableClinician, type WaitInput } from './wait-estimate.js';

const NOW = new Date('2026-12-07T10:00:00Z');
const NEXT_OPENING = new Date('2026-12-08T08:00:00Z');
const OPEN = { isOpen: true, closesAt: new Date('2026-12-07T18:00:00Z'), nextOpening: NEXT_OPENING };
const HISTORY_20 = { median: 20, samples: 12 };
const busy = (maxConcurrent: number, dailyRemaining: number | null = null): ReachableClinician => ({ maxConcurrent, active: maxConcurrent, dailyRemaining });
const idle = (maxConcurrent: number): ReachableClinician => ({ maxConcurrent, active: 0, dailyRemaining: null });

const at = (overrides: Partial<WaitInput>): WaitInput => ({ position: 1, now: NOW, handling: HISTORY_20, clinicians: [busy(2)], hours: OPEN, ...overrides });

describe('estimateWait', () => {
  it.each<[string, WaitInput, number | null, string | null]>([
    ['one place behind two busy slots of 20-minute conversations: one frees every 10 minutes', at({}), 10, null],
    ['the fourth place: four slot turns', at({ position: 4 }), 40, null],
    ['two clinicians double the turnover', at({ position: 4, clinicians: [busy(2), busy(2)] }), 20, null],
    ['a clinician with a free slot takes the first place at once (about a minute)', at({ clinicians: [idle(2)] }), 1, null],
    ['places beyond the free slots wait for turns', at({ position: 3, clinicians: [idle(2)] }), 10, null],
    ['too little history: the documented default handling time', at({ handling: { median: 45, samples: 2 } }), Math.ceil(DEFAULT_HANDLING_MINUTES / 2), null],
    ['no history at all: the default', at({ handling: { median: null, samples: 0 } }), Math.ceil(DEFAULT_HANDLING_MINUTES / 2), null],
    ['closed now: the next opening, no minutes', at({ hours: { isOpen: false, closesAt: null, nextOpening: NEXT_OPENING } }), null, NEXT_OPENING.toISOString()],
    ['closed with no known opening: nothing promised', at({ hours: { isOpen: false, closesAt: null, nextOpening: null } }), null, null],
    ['open but nobody connected and available: no time and no session promised', at({ clinicians: [] }), null, null],
    ['a clinician with a cap of 0 cannot pick it up', at({ clinicians: [idle(0)] }), null, null],
    ['the estimate runs past closing: the next session', at({ position: 30, now: new Date('2026-12-07T17:30:00Z') }), null, NEXT_OPENING.toISOString()],
    ['daily caps run out before this place: the next session', at({ position: 3, clinicians: [busy(2, 2)] }), null, NEXT_OPENING.toISOString()],
    ['a clinician at their daily cap counts for nothing', at({ clinicians: [busy(2, 0), busy(1)] }), 20, null],
  ])('%s', (_case, input, minutes, nextSessionAt) => {
    expect(estimateWait(input)).toEqual({ estimatedWaitMinutes: minutes, nextSessionAt });
  });
});
