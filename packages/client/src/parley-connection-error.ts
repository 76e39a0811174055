import type { SessionEnded } from '@parley/protocol';

/**
 * Why a client stopped for good: `unauthorized` (the handshake refused its token), `refused`
 * (the handshake refused it for another reason), `unreachable` (the first connection attempt of
 * {@link ParleyClient.connect} failed), `session_ended` (fact `session:ended`), `closed_by_server`
 * (the server disconnected the socket without saying why).
 */
export type ConnectionStopCode = 'unauthorized' | 'refused' | 'unreachable' | 'session_ended' | 'closed_by_server';

/** The typed reason a client stopped connecting; it does not reconnect after one of these. */
export class ParleyConnectionError extends Error {
  constructor(
    /** What the app should act on (sign in again, show "offline", …). */
    readonly code: ConnectionStopCode,
    message: string,
    /** For `session_ended`: the reason the server gave. */
    readonly sessionEndedReason: SessionEnded['reason'] | null = null,
  ) {
    super(message);
    this.name = 'ParleyConnectionError';
  }
}
