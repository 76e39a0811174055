import { Logger } from '@nestjs/common';
import { mockOf } from '../../test/mocks.js';
import { aPatient } from '../../test/factories.js';
import { rooms } from '../common/rooms.js';
import type { InvalidationListener } from '../invalidation/invalidation.listener.js';
import type { SessionEventsGateway } from './session-events.gateway.js';
import { SessionStateCache } from './session-state.cache.js';
import type { SessionState, SessionsRepository } from './sessions.repository.js';
import { SessionsService } from './sessions.service.js';

const LIVE: SessionState = {
  userId: 'u',
  deviceId: 'd',
  endReason: null,
  isExpired: false,
  isIdle: false,
  endsAt: new Date(Date.now() + 3_600_000),
  expiresAt: new Date(Date.now() + 3_600_000),
  lastSeenAt: new Date(),
  isDeviceRevoked: false,
  isUserDeactivated: false,
};
/** A listener that is not listening: the state cache reads the repository every time. */
const notListening = { isListening: false, onInvalidation: () => () => true, onReset: () => () => true } as unknown as InvalidationListener;

describe(SessionsService.name, () => {
  beforeAll(() => Logger.overrideLogger(false));

  let sessions: jest.Mocked<SessionsRepository>;
  let events: jest.Mocked<SessionEventsGateway>;
  let sut: SessionsService;

  beforeEach(() => {
    sessions = mockOf<SessionsRepository>();
    events = mockOf<SessionEventsGateway>();
    sut = new SessionsService(sessions, events, new SessionStateCache(sessions, notListening));
  });

  it('resolves a malformed token to nobody without asking the database', async () => {
    expect(await sut.resolve('not a token')).toBeNull();
    expect(await sut.resolve(undefined)).toBeNull();
    expect(sessions.findActiveByTokenHash).not.toHaveBeenCalled();
  });

  it.each([
    [{ ...LIVE }, null],
    [{ ...LIVE, endReason: 'signed_out' as const, isExpired: true }, 'signed_out'],
    [{ ...LIVE, isDeviceRevoked: true, isExpired: true }, 'device_revoked'],
    [{ ...LIVE, isUserDeactivated: true }, 'revoked'],
    [{ ...LIVE, isExpired: true }, 'expired'],
    [{ ...LIVE, isIdle: true }, 'expired'],
    [null, 'revoked'],
  ])('names why a session in state %o ended: %s', async (state, reason) => {
    sessions.findState.mockResolvedValue(state);

    expect(await sut.endedReason(aPatient())).toBe(reason);
  });

  it('ends every session of the user and tells all their sockets on sign-out-everywhere', async () => {
    const actor = aPatient();

    await sut.signOutEverywhere(actor);

    expect(sessions.revokeAllOfUser).toHaveBeenCalledWith(actor.userId, 'signed_out');
    expect(events.ended).toHaveBeenCalledWith(rooms.user(actor.userId), 'signed_out');
  });

  it('ends only the current session on sign-out', async () => {
    const actor = aPatient();

    await sut.signOut(actor);

    expect(sessions.revoke).toHaveBeenCalledWith(actor.sessionId, 'signed_out');
    expect(events.ended).toHaveBeenCalledWith(rooms.session(actor.sessionId), 'signed_out');
  });
});
