import {
  FeedTransitionError,
  nextFeedState,
  type FeedEffect,
  type FeedEvent,
  type FeedEventType,
  type FeedState,
  type FeedStateName,
} from '../src/feed-state.js';

const refusal = { code: 'forbidden', message: 'not yours' } as const;

/** One event of each type (the ones with data in the variants the table distinguishes). */
const EVENTS: Record<FeedEventType, FeedEvent[]> = {
  start: [{ type: 'start' }],
  loaded: [
    { type: 'loaded', isOnline: true },
    { type: 'loaded', isOnline: false },
  ],
  begin: [{ type: 'begin' }],
  joined: [{ type: 'joined' }],
  synced: [
    { type: 'synced', isGapLeft: false },
    { type: 'synced', isGapLeft: true },
  ],
  refused: [{ type: 'refused', error: refusal }],
  lost: [{ type: 'lost' }],
  faulted: [{ type: 'faulted' }],
  'backoff-over': [{ type: 'backoff-over' }],
  online: [{ type: 'online' }],
  resync: [{ type: 'resync' }],
  gap: [{ type: 'gap' }],
  stop: [{ type: 'stop' }],
};

/** Every state, in each variant of its data. */
const STATES: Record<FeedStateName, FeedState[]> = {
  idle: [{ name: 'idle' }],
  loading: [{ name: 'loading' }],
  queued: [
    { name: 'queued', withJoin: true },
    { name: 'queued', withJoin: false },
  ],
  joining: [
    { name: 'joining', rejoinAfter: false },
    { name: 'joining', rejoinAfter: true },
  ],
  syncing: [
    { name: 'syncing', withJoin: true, rejoinAfter: false },
    { name: 'syncing', withJoin: false, rejoinAfter: false },
    { name: 'syncing', withJoin: false, rejoinAfter: true },
  ],
  retrying: [
    { name: 'retrying', withJoin: true },
    { name: 'retrying', withJoin: false },
  ],
  live: [{ name: 'live' }],
  offline: [
    { name: 'offline', withJoin: true },
    { name: 'offline', withJoin: false },
  ],
  refused: [
    { name: 'refused', withJoin: true },
    { name: 'refused', withJoin: false },
  ],
  stopped: [{ name: 'stopped' }],
};

const settledOk: FeedEffect = { type: 'settle', outcome: { ok: true } };
const passWithJoin: FeedEffect = { type: 'pass', withJoin: true };
const passWithoutJoin: FeedEffect = { type: 'pass', withJoin: false };
const beginSoon: FeedEffect = { type: 'begin-soon' };

type Row = [from: FeedState, event: FeedEvent, to: FeedState, effects: FeedEffect[]];

/** The table of ConversationFeed's doc comment, one row per (state variant, event variant) it lists; `stop` and `stopped` are checked below. */
const TABLE: Row[] = [
  [{ name: 'idle' }, { type: 'start' }, { name: 'loading' }, [{ type: 'load-cursor' }]],

  [{ name: 'loading' }, { type: 'loaded', isOnline: true }, { name: 'queued', withJoin: true }, [{ type: 'subscribe' }, beginSoon]],
  [{ name: 'loading' }, { type: 'loaded', isOnline: false }, { name: 'offline', withJoin: true }, [{ type: 'subscribe' }]],

  [{ name: 'queued', withJoin: true }, { type: 'begin' }, { name: 'joining', rejoinAfter: false }, [passWithJoin]],
  [{ name: 'queued', withJoin: false }, { type: 'begin' }, { name: 'syncing', withJoin: false, rejoinAfter: false }, [passWithoutJoin]],
  [{ name: 'queued', withJoin: false }, { type: 'resync' }, { name: 'queued', withJoin: true }, []],
  [{ name: 'queued', withJoin: true }, { type: 'resync' }, { name: 'queued', withJoin: true }, []],
  [{ name: 'queued', withJoin: false }, { type: 'online' }, { name: 'queued', withJoin: false }, []],
  [{ name: 'queued', withJoin: false }, { type: 'gap' }, { name: 'queued', withJoin: false }, []],
  [{ name: 'queued', withJoin: true }, { type: 'online' }, { name: 'queued', withJoin: true }, []],
  [{ name: 'queued', withJoin: true }, { type: 'gap' }, { name: 'queued', withJoin: true }, []],

  [{ name: 'joining', rejoinAfter: false }, { type: 'joined' }, { name: 'syncing', withJoin: true, rejoinAfter: false }, []],
  [{ name: 'joining', rejoinAfter: true }, { type: 'joined' }, { name: 'syncing', withJoin: true, rejoinAfter: true }, []],
  [{ name: 'joining', rejoinAfter: false }, { type: 'resync' }, { name: 'joining', rejoinAfter: true }, []],
  [{ name: 'joining', rejoinAfter: true }, { type: 'resync' }, { name: 'joining', rejoinAfter: true }, []],
  [{ name: 'joining', rejoinAfter: false }, { type: 'online' }, { name: 'joining', rejoinAfter: false }, []],
  [{ name: 'joining', rejoinAfter: true }, { type: 'online' }, { name: 'joining', rejoinAfter: true }, []],
  [{ name: 'joining', rejoinAfter: false }, { type: 'gap' }, { name: 'joining', rejoinAfter: false }, []],
  [{ name: 'joining', rejoinAfter: true }, { type: 'gap' }, { name: 'joining', rejoinAfter: true }, []],
  [
    { name: 'joining', rejoinAfter: false },
    { type: 'refused', error: refusal },
    { name: 'refused', withJoin: true },
    [
      { type: 'report', error: refusal },
      { type: 'settle', outcome: { ok: false, error: refusal } },
    ],
  ],
  [
    { name: 'joining', rejoinAfter: true },
    { type: 'refused', error: refusal },
    { name: 'refused', withJoin: true },
    [
      { type: 'report', error: refusal },
      { type: 'settle', outcome: { ok: false, error: refusal } },
    ],
  ],
  [{ name: 'joining', rejoinAfter: false }, { type: 'lost' }, { name: 'offline', withJoin: true }, []],
  [{ name: 'joining', rejoinAfter: true }, { type: 'lost' }, { name: 'offline', withJoin: true }, []],
  [{ name: 'joining', rejoinAfter: false }, { type: 'faulted' }, { name: 'retrying', withJoin: true }, [{ type: 'back-off' }]],
  [{ name: 'joining', rejoinAfter: true }, { type: 'faulted' }, { name: 'retrying', withJoin: true }, [{ type: 'back-off' }]],

  [{ name: 'syncing', withJoin: true, rejoinAfter: false }, { type: 'synced', isGapLeft: false }, { name: 'live' }, [settledOk, { type: 'reset-backoff' }]],
  [{ name: 'syncing', withJoin: false, rejoinAfter: false }, { type: 'synced', isGapLeft: false }, { name: 'live' }, [settledOk, { type: 'reset-backoff' }]],
  [
    { name: 'syncing', withJoin: true, rejoinAfter: false },
    { type: 'synced', isGapLeft: true },
    { name: 'syncing', withJoin: false, rejoinAfter: false },
    [settledOk, { type: 'reset-backoff' }, passWithoutJoin],
  ],
  [
    { name: 'syncing', withJoin: false, rejoinAfter: false },
    { type: 'synced', isGapLeft: true },
    { name: 'syncing', withJoin: false, rejoinAfter: false },
    [settledOk, { type: 'reset-backoff' }, passWithoutJoin],
  ],
  [
    { name: 'syncing', withJoin: false, rejoinAfter: true },
    { type: 'synced', isGapLeft: false },
    { name: 'joining', rejoinAfter: false },
    [settledOk, { type: 'reset-backoff' }, passWithJoin],
  ],
  [
    { name: 'syncing', withJoin: false, rejoinAfter: true },
    { type: 'synced', isGapLeft: true },
    { name: 'joining', rejoinAfter: false },
    [settledOk, { type: 'reset-backoff' }, passWithJoin],
  ],
  [{ name: 'syncing', withJoin: true, rejoinAfter: false }, { type: 'resync' }, { name: 'syncing', withJoin: true, rejoinAfter: true }, []],
  [{ name: 'syncing', withJoin: false, rejoinAfter: false }, { type: 'resync' }, { name: 'syncing', withJoin: false, rejoinAfter: true }, []],
  [{ name: 'syncing', withJoin: false, rejoinAfter: true }, { type: 'resync' }, { name: 'syncing', withJoin: false, rejoinAfter: true }, []],
  ...(['online', 'gap'] as const).flatMap((type) => STATES.syncing.map((state): Row => [state, { type }, state, []])),
  [
    { name: 'syncing', withJoin: true, rejoinAfter: false },
    { type: 'refused', error: refusal },
    { name: 'refused', withJoin: true },
    [
      { type: 'report', error: refusal },
      { type: 'settle', outcome: { ok: false, error: refusal } },
    ],
  ],
  [
    { name: 'syncing', withJoin: false, rejoinAfter: false },
    { type: 'refused', error: refusal },
    { name: 'refused', withJoin: false },
    [
      { type: 'report', error: refusal },
      { type: 'settle', outcome: { ok: false, error: refusal } },
    ],
  ],
  [
    { name: 'syncing', withJoin: false, rejoinAfter: true },
    { type: 'refused', error: refusal },
    { name: 'refused', withJoin: true },
    [
      { type: 'report', error: refusal },
      { type: 'settle', outcome: { ok: false, error: refusal } },
    ],
  ],
  [{ name: 'syncing', withJoin: true, rejoinAfter: false }, { type: 'lost' }, { name: 'offline', withJoin: true }, []],
  [{ name: 'syncing', withJoin: false, rejoinAfter: false }, { type: 'lost' }, { name: 'offline', withJoin: false }, []],
  [{ name: 'syncing', withJoin: false, rejoinAfter: true }, { type: 'lost' }, { name: 'offline', withJoin: true }, []],
  [{ name: 'syncing', withJoin: true, rejoinAfter: false }, { type: 'faulted' }, { name: 'retrying', withJoin: true }, [{ type: 'back-off' }]],
  [{ name: 'syncing', withJoin: false, rejoinAfter: false }, { type: 'faulted' }, { name: 'retrying', withJoin: false }, [{ type: 'back-off' }]],
  [{ name: 'syncing', withJoin: false, rejoinAfter: true }, { type: 'faulted' }, { name: 'retrying', withJoin: true }, [{ type: 'back-off' }]],

  [{ name: 'retrying', withJoin: true }, { type: 'backoff-over' }, { name: 'joining', rejoinAfter: false }, [passWithJoin]],
  [{ name: 'retrying', withJoin: false }, { type: 'backoff-over' }, { name: 'syncing', withJoin: false, rejoinAfter: false }, [passWithoutJoin]],
  [{ name: 'retrying', withJoin: false }, { type: 'resync' }, { name: 'retrying', withJoin: true }, []],
  [{ name: 'retrying', withJoin: true }, { type: 'resync' }, { name: 'retrying', withJoin: true }, []],
  ...(['online', 'gap'] as const).flatMap((type) => STATES.retrying.map((state): Row => [state, { type }, state, []])),

  [{ name: 'live' }, { type: 'gap' }, { name: 'queued', withJoin: false }, [beginSoon]],
  [{ name: 'live' }, { type: 'resync' }, { name: 'queued', withJoin: true }, [beginSoon]],
  [{ name: 'live' }, { type: 'online' }, { name: 'live' }, []],

  ...(['offline', 'refused'] as const).flatMap((name) =>
    [true, false].flatMap((withJoin): Row[] => [
      [{ name, withJoin }, { type: 'online' }, { name: 'queued', withJoin: true }, [beginSoon]],
      [{ name, withJoin }, { type: 'resync' }, { name: 'queued', withJoin: true }, [beginSoon]],
      [{ name, withJoin }, { type: 'gap' }, { name: 'queued', withJoin }, [beginSoon]],
    ]),
  ),
];

const allStates = Object.values(STATES).flat();
const allEvents = Object.values(EVENTS).flat();
const describeState = (state: FeedState) => JSON.stringify(state);
const describeEvent = (event: FeedEvent) => JSON.stringify(event);

describe(nextFeedState.name, () => {
  it.each(TABLE.map(([from, event, to, effects]) => [describeState(from), describeEvent(event), from, event, to, effects] as const))(
    'in %s on %s goes where the table says, with its effects in order',
    (_from, _event, from, event, to, effects) => {
      const step = nextFeedState(from, event);

      expect(step).toEqual({ state: to, effects });
    },
  );

  it.each(allStates.filter((state) => state.name !== 'stopped').map((state) => [describeState(state), state] as const))(
    'stops from %s, shutting down once',
    (_name, state) => {
      const step = nextFeedState(state, { type: 'stop' });

      expect(step).toEqual({ state: { name: 'stopped' }, effects: [{ type: 'shut-down' }] });
    },
  );

  it.each(allEvents.map((event) => [describeEvent(event), event] as const))('stays stopped on %s and does nothing', (_name, event) => {
    const step = nextFeedState({ name: 'stopped' }, event);

    expect(step).toEqual({ state: { name: 'stopped' }, effects: [] });
  });

  it('refuses, loudly, every event the table has no row for', () => {
    const isListed = (state: FeedState, event: FeedEvent) =>
      state.name === 'stopped' ||
      event.type === 'stop' ||
      TABLE.some(([from, listed]) => describeState(from) === describeState(state) && describeEvent(listed) === describeEvent(event));
    const unlisted = allStates.flatMap((state) => allEvents.filter((event) => !isListed(state, event)).map((event) => [state, event] as const));

    const refused = unlisted.filter(([state, event]) => {
      try {
        nextFeedState(state, event);
        return false;
      } catch (error) {
        return error instanceof FeedTransitionError && error.from === state.name && error.event === event.type;
      }
    });

    // Proves the check saw pairs to refuse (e.g. `joined` while syncing, `synced` while joining, `begin` while live).
    expect(unlisted.length).toBeGreaterThan(100);
    expect(refused.map(([state, event]) => `${describeState(state)} ${describeEvent(event)}`)).toEqual(
      unlisted.map(([state, event]) => `${describeState(state)} ${describeEvent(event)}`),
    );
  });

  it('names the state and the event when it refuses one', () => {
    const refuse = () => nextFeedState({ name: 'live' }, { type: 'joined' });

    expect(refuse).toThrow(new FeedTransitionError('live', 'joined'));
    expect(refuse).toThrow("ConversationFeed: no transition from 'live' on 'joined'");
  });
});
