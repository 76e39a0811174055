import type { Invalidation, InvalidationListener } from '../invalidation/invalidation.listener.js';
import { mockOf } from '../../test/mocks.js';
import { SessionStateCache } from './session-state.cache.js';
import type { ActiveSession, SessionState, SessionsRepository } from './sessions.repository.js';

const IDLE = { staffMinutes: 30, patientMinutes: 60 };
const HOUR = 3_600_000;

/** A listener the test drives: it delivers notifications and resets as the real one would. */
class DrivenListener {
  isListening = true;
  private readonly handlers: ((invalidation: Invalidation) => void)[] = [];
  private readonly resets: (() => void)[] = [];
  onInvalidation(handler: (invalidation: Invalidation) => void) {
    this.handlers.push(handler);
    return () => true;
  }
  onReset(handler: () => void) {
    this.resets.push(handler);
    return () => true;
  }
  notify(invalidation: Invalidation): void {
    for (const handler of this.handlers) handler(invalidation);
  }
}

function aState(overrides: Partial<SessionState> = {}): SessionState {
  const now = Date.now();
  return {
    userId: 'user-1',
    deviceId: 'device-1',
    endReason: null,
    isExpired: false,
    isIdle: false,
    endsAt: new Date(now + HOUR),
    expiresAt: new Date(now + 12 * HOUR),
    lastSeenAt: new Date(now),
    isDeviceRevoked: false,
    isUserDeactivated: false,
    ...overrides,
  };
}

describe(SessionStateCache.name, () => {
  let sessions: jest.Mocked<SessionsRepository>;
  let listener: DrivenListener;
  let sut: SessionStateCache;

  beforeEach(() => {
    sessions = mockOf<SessionsRepository>();
    listener = new DrivenListener();
    sut = new SessionStateCache(sessions, listener as unknown as InvalidationListener);
  });

  it('reads a live session once (as use), then answers its commands from memory', async () => {
    sessions.findState.mockResolvedValue(aState());

    for (let i = 0; i < 5; i += 1) expect((await sut.forCommand('s1', IDLE))?.endReason).toBeNull();

    expect(sessions.findState).toHaveBeenCalledTimes(1);
    expect(sessions.findState).toHaveBeenCalledWith('s1', IDLE, true);
  });

  it('reads it again (marking it seen) once its last use in memory is a minute old, as the database would write it', async () => {
    sessions.findState.mockResolvedValueOnce(aState({ lastSeenAt: new Date(Date.now() - 61_000) })).mockResolvedValueOnce(aState());

    await sut.forCommand('s1', IDLE);
    await sut.forCommand('s1', IDLE);

    expect(sessions.findState).toHaveBeenCalledTimes(2);
    expect(sessions.findState).toHaveBeenLastCalledWith('s1', IDLE, true);
  });

  it('does not believe memory that finds the session past its end: it asks the database, which another node may have told of a use', async () => {
    sessions.findState.mockResolvedValueOnce(aState({ endsAt: new Date(Date.now() - 1) })).mockResolvedValueOnce(aState({ isIdle: true }));

    const state = await sut.forCommand('s1', IDLE);

    expect(state?.isIdle).toBe(true);
    expect(sessions.findState).toHaveBeenCalledTimes(2);
  });

  it.each<[string, Invalidation]>([
    ['the session changed', { kind: 'session', id: 's1' }],
    ['the session ended', { kind: 'session_ended', id: 's1' }],
    ['its device was revoked', { kind: 'device', id: 'device-1' }],
    ['its user changed', { kind: 'user', id: 'user-1' }],
  ])('forgets the session when %s', async (_what, invalidation) => {
    sessions.findState.mockResolvedValueOnce(aState()).mockResolvedValueOnce(aState({ isDeviceRevoked: true }));
    await sut.forCommand('s1', IDLE);

    listener.notify(invalidation);

    expect((await sut.forCommand('s1', IDLE))?.isDeviceRevoked).toBe(true);
  });

  it.each<[string, Invalidation]>([
    ['another session', { kind: 'session_ended', id: 's2' }],
    ['another device', { kind: 'device', id: 'device-2' }],
    ['another user', { kind: 'user', id: 'user-2' }],
    ['a conversation', { kind: 'conversation', id: 's1' }],
  ])('keeps the session when %s changes', async (_what, invalidation) => {
    sessions.findState.mockResolvedValue(aState());
    await sut.forCommand('s1', IDLE);

    listener.notify(invalidation);
    await sut.forCommand('s1', IDLE);

    expect(sessions.findState).toHaveBeenCalledTimes(1);
  });

  it('reads the database on every command while the listener is not listening', async () => {
    sessions.findState.mockResolvedValue(aState());
    listener.isListening = false;

    await sut.forCommand('s1', IDLE);
    await sut.forCommand('s1', IDLE);

    expect(sessions.findState).toHaveBeenCalledTimes(2);
    expect(sut.size).toBe(0);
  });

  describe('remember (a live session its token was just resolved to)', () => {
    const now = Date.now();
    const resolved: ActiveSession = {
      actor: { userId: 'user-1', deviceId: 'device-1', sessionId: 's1', practiceId: 'p', practiceOdsCode: 'A1', roles: ['patient'], displayName: 'Pat' },
      expiresAt: new Date(now + 12 * HOUR),
      idleExpiresAt: new Date(now + HOUR),
      lastSeenAt: new Date(now),
    };

    it("answers the socket's first command from memory, with the state the database would have given", async () => {
      sut.remember(resolved, sut.mark);

      const state = await sut.forCommand('s1', IDLE);

      expect(sessions.findState).not.toHaveBeenCalled();
      expect(state).toEqual(aState({ endsAt: resolved.idleExpiresAt, expiresAt: resolved.expiresAt, lastSeenAt: resolved.lastSeenAt }));
    });

    it('ends at the absolute expiry when that comes before the idle end', async () => {
      sut.remember({ ...resolved, expiresAt: new Date(now + 60_000) }, sut.mark);

      expect((await sut.forCommand('s1', IDLE))?.endsAt).toEqual(new Date(now + 60_000));
    });

    it('holds nothing when an invalidation arrived while the token was being resolved (it may have ended that session)', async () => {
      sessions.findState.mockResolvedValue(aState({ endReason: 'revoked' }));
      const mark = sut.mark;

      listener.notify({ kind: 'session_ended', id: 's1' });
      sut.remember(resolved, mark);

      expect((await sut.forCommand('s1', IDLE))?.endReason).toBe('revoked');
      expect(sessions.findState).toHaveBeenCalledTimes(1);
    });
  });

  it('answers null for a session the database does not know, and does not hold it', async () => {
    sessions.findState.mockResolvedValue(null);

    expect(await sut.forCommand('nope', IDLE)).toBeNull();
    expect(await sut.forCommand('nope', IDLE)).toBeNull();
    expect(sessions.findState).toHaveBeenCalledTimes(2);
  });
});
