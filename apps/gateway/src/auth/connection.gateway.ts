import { Logger } from '@nestjs/common';
import { type OnGatewayConnection, type OnGatewayDisconnect, WebSocketGateway } from '@nestjs/websockets';
import { COMMAND_NAMES, type Ack } from '@parley/protocol';
import type { Socket } from 'socket.io';

const KNOWN_COMMANDS: ReadonlySet<string> = new Set(COMMAND_NAMES);

/** Every socket's life cycle: logs it by id, and answers commands the protocol does not know. */
@WebSocketGateway()
export class ConnectionGateway implements OnGatewayConnection, OnGatewayDisconnect {
  private readonly logger = new Logger(ConnectionGateway.name);

  handleConnection(socket: Socket): void {
    this.logger.log({ socketId: socket.id }, 'socket connected');
    // Without this, a client that sends an unknown event with an ack would wait for its timeout.
    socket.onAny((event: unknown, ...args: unknown[]) => {
      if (typeof event === 'string' && KNOWN_COMMANDS.has(event)) return;
      const ack = args.at(-1);
      const answer: Ack<never> = { ok: false, error: { code: 'invalid_payload', message: 'Unknown event.' } };
      if (typeof ack === 'function') ack(answer);
    });
  }

  handleDisconnect(socket: Socket): void {
    this.logger.log({ socketId: socket.id }, 'socket disconnected');
  }
}
