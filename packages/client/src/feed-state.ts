import type { FeedError, FeedSyncOutcome } from './conversation-feed.js';

/**
 * Where a `ConversationFeed` is in its life. A "pass" is one join (when `withJoin`) and the sync
 * pages after it; only the `joining` and `syncing` states have a pass running, so two never overlap.
 * - `rejoinAfter`: a join was asked for while the pass ran (a reconnection, `resync()`): one more pass, with a join, follows it.
 * - `withJoin` on a resting state: the next pass must join (the last one that joined failed, or a join was asked for meanwhile).
 *
 * @internal The transitions are {@link nextFeedState}.
 */
export type FeedState =
  | { name: 'idle' }
  | { name: 'loading' }
  | { name: 'queued'; withJoin: boolean }
  | { name: 'joining'; rejoinAfter: boolean }
  | { name: 'syncing'; withJoin: boolean; rejoinAfter: boolean }
  | { name: 'retrying'; withJoin: boolean }
  | { name: 'live' }
  | { name: 'offline'; withJoin: boolean }
  | { name: 'refused'; withJoin: boolean }
  | { name: 'stopped' };

/** The names of {@link FeedState}. @internal */
export type FeedStateName = FeedState['name'];

/** What happens to a feed: its own calls, the client's signals, and how its pass and backoff ended. @internal */
export type FeedEvent =
  | { type: 'start' }
  | { type: 'loaded'; isOnline: boolean }
  | { type: 'begin' }
  | { type: 'joined' }
  | { type: 'synced'; isGapLeft: boolean }
  | { type: 'refused'; error: FeedError }
  | { type: 'lost' }
  | { type: 'faulted' }
  | { type: 'backoff-over' }
  | { type: 'online' }
  | { type: 'resync' }
  | { type: 'gap' }
  | { type: 'stop' };

/** The names of {@link FeedEvent}. @internal */
export type FeedEventType = FeedEvent['type'];

/** What the feed does on a transition, in this order. @internal */
export type FeedEffect =
  | { type: 'load-cursor' }
  | { type: 'subscribe' }
  /** Sends `begin` once the current turn's signals are in (a reconnection raises `online` and `resync` together: one pass). */
  | { type: 'begin-soon' }
  | { type: 'pass'; withJoin: boolean }
  | { type: 'reset-backoff' }
  /** Counts the failure, waits the jittered backoff, then sends `backoff-over`. */
  | { type: 'back-off' }
  | { type: 'report'; error: FeedError }
  /** Resolves `start()` (only its first outcome counts). */
  | { type: 'settle'; outcome: FeedSyncOutcome }
  /** Unsubscribes, cancels the receipt timer and the backoff, and settles `start()` with `stopped`. */
  | { type: 'shut-down' };

/** A state with the effects that entering it takes. @internal */
export interface FeedStep {
  state: FeedState;
  effects: FeedEffect[];
}

/** An event the table has no row for in that state: a bug in the feed, never a condition of the network. @internal */
export class FeedTransitionError extends Error {
  constructor(
    readonly from: FeedStateName,
    readonly event: FeedEventType,
  ) {
    super(`ConversationFeed: no transition from '${from}' on '${event}'`);
    this.name = 'FeedTransitionError';
  }
}

/** What `start()` resolves with when the feed is stopped before its first pass ended. @internal */
export const STOPPED_OUTCOME: FeedSyncOutcome = { ok: false, error: { code: 'stopped', message: 'the feed was stopped' } };

/** The states where no pass runs or is about to: `resync()` resolves when the feed reaches one. @internal */
export const RESTING_STATES: ReadonlySet<FeedStateName> = new Set(['live', 'offline', 'refused', 'stopped']);

/**
 * The feed's transition table (written out in `ConversationFeed`'s doc comment), as a pure function:
 * the next state and the effects of `event` in `state`. An event that has no row here throws
 * {@link FeedTransitionError}; an event a state deliberately ignores has a row that keeps the state. `stop` leads every state to `stopped`, which absorbs every later event
 * (a pass, a backoff or a listener call already under way when the feed stopped ends there).
 *
 * A resting state's `withJoin` is true whenever the feed has no join answer yet (the first pass joins, and
 * only a failed pass that joined leaves a resting state without one), so this table never needs the answer itself.
 * @throws FeedTransitionError
 * @internal
 */
export function nextFeedState(state: FeedState, event: FeedEvent): FeedStep {
  if (state.name === 'stopped') return { state, effects: [] };
  if (event.type === 'stop') return { state: { name: 'stopped' }, effects: [{ type: 'shut-down' }] };
  const step = transitionOf(state, event);
  if (!step) throw new FeedTransitionError(state.name, event.type);
  return step;
}

function transitionOf(state: Exclude<FeedState, { name: 'stopped' }>, event: FeedEvent): FeedStep | null {
  const stay: FeedStep = { state, effects: [] };
  switch (state.name) {
    case 'idle':
      return event.type === 'start' ? { state: { name: 'loading' }, effects: [{ type: 'load-cursor' }] } : null;
    case 'loading':
      if (event.type !== 'loaded') return null;
      return event.isOnline
        ? { state: { name: 'queued', withJoin: true }, effects: [{ type: 'subscribe' }, { type: 'begin-soon' }] }
        : { state: { name: 'offline', withJoin: true }, effects: [{ type: 'subscribe' }] };
    case 'queued':
      if (event.type === 'begin') return passStep(state.withJoin);
      if (event.type === 'resync') return { state: { name: 'queued', withJoin: true }, effects: [] };
      return event.type === 'online' || event.type === 'gap' ? stay : null;
    case 'joining':
    case 'syncing': {
      const withJoin = state.name === 'joining' || state.withJoin;
      switch (event.type) {
        case 'joined':
          return state.name === 'joining' ? { state: { name: 'syncing', withJoin: true, rejoinAfter: state.rejoinAfter }, effects: [] } : null;
        case 'synced': {
          if (state.name !== 'syncing') return null;
          const ended: FeedEffect[] = [{ type: 'settle', outcome: { ok: true } }, { type: 'reset-backoff' }];
          if (!state.rejoinAfter && !event.isGapLeft) return { state: { name: 'live' }, effects: ended };
          const next = passStep(state.rejoinAfter);
          return { state: next.state, effects: [...ended, ...next.effects] };
        }
        case 'refused':
          return {
            state: { name: 'refused', withJoin: withJoin || state.rejoinAfter },
            effects: [
              { type: 'report', error: event.error },
              { type: 'settle', outcome: { ok: false, error: event.error } },
            ],
          };
        case 'lost':
          return { state: { name: 'offline', withJoin: withJoin || state.rejoinAfter }, effects: [] };
        case 'faulted':
          return { state: { name: 'retrying', withJoin: withJoin || state.rejoinAfter }, effects: [{ type: 'back-off' }] };
        case 'resync':
          return { state: { ...state, rejoinAfter: true }, effects: [] };
        case 'online':
        case 'gap':
          return stay;
        default:
          return null;
      }
    }
    case 'retrying':
      if (event.type === 'backoff-over') return passStep(state.withJoin);
      if (event.type === 'resync') return { state: { name: 'retrying', withJoin: true }, effects: [] };
      return event.type === 'online' || event.type === 'gap' ? stay : null;
    case 'live':
      if (event.type === 'resync' || event.type === 'gap') {
        return { state: { name: 'queued', withJoin: event.type === 'resync' }, effects: [{ type: 'begin-soon' }] };
      }
      return event.type === 'online' ? stay : null;
    case 'offline':
    case 'refused':
      if (event.type === 'online' || event.type === 'resync' || event.type === 'gap') {
        return { state: { name: 'queued', withJoin: event.type !== 'gap' || state.withJoin }, effects: [{ type: 'begin-soon' }] };
      }
      return null;
  }
}

function passStep(withJoin: boolean): FeedStep {
  return {
    state: withJoin ? { name: 'joining', rejoinAfter: false } : { name: 'syncing', withJoin: false, rejoinAfter: false },
    effects: [{ type: 'pass', withJoin }],
  };
}
