import { Injectable, Logger } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { Server as HttpServer } from 'node:http';
import type { Server, Socket } from 'socket.io';

const POLL_MS = 20;

/** What a drain did, for the shutdown log. */
export interface DrainOutcome {
  /** Commands still unanswered when the wait ran out (their clients retry them elsewhere). */
  unanswered: number;
  /** Sockets told to reconnect. */
  closedSockets: number;
}

/**
 * Graceful drain for rolling restarts. On SIGTERM the node reports not ready, stops accepting
 * connections, holds back commands that arrive from now on, lets the commands under way finish
 * and answer (an ack only goes out after the record commit), then closes each socket's transport:
 * socket.io clients take that as a lost connection and reconnect, through the load balancer, to
 * another node, where they resend what was held back (same client message ids, so nothing doubles)
 * and resync from their last sequence number.
 */
@Injectable()
export class DrainService {
  private readonly logger = new Logger(DrainService.name);
  private server: Server | undefined;
  private isDrainingNow = false;
  private inFlight = 0;

  constructor(private readonly adapterHost: HttpAdapterHost) {}

  /** True from the start of a drain: readiness then answers 503 `draining`. */
  get isDraining(): boolean {
    return this.isDrainingNow;
  }

  /** Commands received and not answered yet. */
  get commandsInFlight(): number {
    return this.inFlight;
  }

  /** Watches every socket of the server the gateways share (called by the io adapter once it exists). */
  attach(server: Server): void {
    this.server = server;
    // A namespace middleware rather than a 'connection' listener: every gateway already listens there.
    server.use((socket, next) => {
      // Refused as a server fault, which clients retry with a backoff (by then through another node).
      if (this.isDrainingNow) return next(new Error('internal'));
      this.watch(socket);
      next();
    });
  }

  private watch(socket: Socket): void {
    socket.use(this.holdOrCount);
  }

  /** Every socket's middleware: one function for all of them (it needs nothing of the socket), not a closure per socket. */
  private readonly holdOrCount: Parameters<Socket['use']>[0] = (packet, next) => {
    // Held back, not refused: with no ack the client's request ends as `disconnected` when the
    // transport closes below, and its outbox resends it on the node it reconnects to.
    if (this.isDrainingNow) return;
    const last = packet.length - 1;
    const ack: unknown = packet[last];
    if (last >= 1 && typeof ack === 'function') {
      this.inFlight += 1;
      let isAnswered = false;
      packet[last] = (...answer: unknown[]) => {
        if (!isAnswered) this.inFlight -= 1;
        isAnswered = true;
        (ack as (...args: unknown[]) => void)(...answer);
      };
    }
    next();
  };

  /** Drains this node (see the class comment); resolves once every socket is closed or `timeoutMs` has passed. */
  async drain(timeoutMs: number): Promise<DrainOutcome> {
    this.isDrainingNow = true;
    const deadline = Date.now() + timeoutMs;
    const http = this.adapterHost.httpAdapter?.getHttpServer() as HttpServer | undefined;
    // New TCP connections are refused from now on; the load balancer sends them to another node.
    http?.close(() => undefined);
    await waitFor(() => this.inFlight === 0, deadline);
    const unanswered = this.inFlight;
    const sockets = [...(this.server?.of('/').sockets.values() ?? [])];
    // Closing the transport, not `socket.disconnect()`: a server-side disconnect tells socket.io clients not to reconnect.
    for (const socket of sockets) socket.conn.close();
    await waitFor(() => (this.server?.of('/').sockets.size ?? 0) === 0, Math.min(deadline, Date.now() + 1_000));
    // A balancer's keep-alive connection (its health checks) would hold the server open forever: close
    // each HTTP connection as soon as it has no request under way, until none is left.
    while (http) {
      http.closeIdleConnections();
      if ((await connectionCount(http)) === 0 || Date.now() >= deadline) break;
      await sleep(POLL_MS);
    }
    this.logger.log({ unanswered, closedSockets: sockets.length }, 'drained');
    return { unanswered, closedSockets: sockets.length };
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitFor(condition: () => boolean, deadline: number): Promise<void> {
  while (!condition() && Date.now() < deadline) await sleep(POLL_MS);
}

function connectionCount(server: HttpServer): Promise<number> {
  return new Promise((resolve) => server.getConnections((error, count) => resolve(error ? 0 : count)));
}
