import { COMMAND_NAMES, ERROR_CODES } from '@parley/protocol';
import type { Socket } from 'socket.io';
import type { CommandOutcome } from './metrics.service.js';

const KNOWN_COMMANDS: ReadonlySet<string> = new Set(COMMAND_NAMES);
const KNOWN_CODES: ReadonlySet<string> = new Set(ERROR_CODES);

/** Where a socket's commands are reported. */
export interface CommandSink {
  commandAnswered(event: string, outcome: CommandOutcome, seconds: number | undefined): void;
}

/**
 * Counts a socket's commands without touching any feature: a socket.io middleware wraps each
 * command's ack, so the outcome and the time to answer are seen exactly as the client sees them.
 * It reads the ack's `ok` and error code only, never the payload.
 */
export function watchCommands(socket: Socket, sink: CommandSink): void {
  let middleware = middlewares.get(sink);
  if (!middleware) {
    middleware = commandWatcher(sink);
    middlewares.set(sink, middleware);
  }
  socket.use(middleware);
}

type Middleware = Parameters<Socket['use']>[0];

/** One middleware per sink, shared by all its sockets (it needs nothing of the socket): no closure kept per idle socket. */
const middlewares = new WeakMap<CommandSink, Middleware>();

function commandWatcher(sink: CommandSink): Middleware {
  return (packet, next) => {
    const event = String(packet[0]);
    const last = packet.length - 1;
    const ack: unknown = packet[last];
    // An unknown event is answered by ConnectionGateway before any middleware runs; count it here.
    if (!KNOWN_COMMANDS.has(event)) sink.commandAnswered(event, 'invalid_payload', undefined);
    else if (last < 1 || typeof ack !== 'function') sink.commandAnswered(event, 'no_ack', undefined);
    else {
      const started = process.hrtime.bigint();
      packet[last] = (...answer: unknown[]) => {
        sink.commandAnswered(event, outcomeOf(answer[0]), Number(process.hrtime.bigint() - started) / 1e9);
        (ack as (...args: unknown[]) => void)(...answer);
      };
    }
    next();
  };
}

/** `ok`, or the error code of a refused command (anything unexpected counts as `internal`). */
function outcomeOf(answer: unknown): CommandOutcome {
  if (typeof answer !== 'object' || answer === null) return 'internal';
  const { ok, error } = answer as { ok?: unknown; error?: { code?: unknown } };
  if (ok === true) return 'ok';
  const code = error?.code;
  return typeof code === 'string' && KNOWN_CODES.has(code) ? code : 'internal';
}
