import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server, type Socket } from 'socket.io';
import type {
  ClientToServer,
  ConversationReceipt,
  ConversationSend,
  ConversationSync,
  ErrorBody,
  RecordEntry,
  SendResult,
  ServerToClient,
  SessionEnded,
} from '@parley/protocol';

type FakeSocket = Socket<ClientToServer, ServerToClient>;

interface FakeConversation {
  entries: RecordEntry[];
  byClientMessageId: Map<string, RecordEntry>;
}

/**
 * A minimal in-memory stand-in for the gateway's conversation commands, over a real socket.io
 * server: sequence numbers, de-duplication by client message id, sync pages, receipts. Knobs let a
 * test drop acks, cut transports and withhold entries. The real gateway is tested by its own e2e suite.
 */
export class FakeGateway {
  /** Every handshake attempt, with the token it carried. */
  readonly handshakes: (string | undefined)[] = [];
  /** Every command received, in arrival order. */
  readonly commands: { event: string; payload: unknown }[] = [];
  readonly receipts: ConversationReceipt[] = [];
  /** Handshakes with these tokens are refused as `unauthorized`. */
  readonly refusedTokens = new Set(['bad']);
  /** Handshakes to fail with `internal`, as the gateway does when it cannot check a token. */
  handshakeFaults = 0;
  /** Sends to store but not acknowledge, as if the ack was lost on the way back. */
  sendAcksToDrop = 0;
  /** Runs before a send is stored; returning false drops it unanswered (e.g. after cutting the transport). */
  beforeSend: (payload: ConversationSend) => boolean = () => true;
  /** Set: every send is refused with this error instead of being stored. */
  sendRefusal: ErrorBody | null = null;
  /** Runs before a sync is answered, after its page was read. */
  beforeSyncAnswer: (payload: ConversationSync) => void = () => undefined;
  /** Seqs that sync answers leave out, as a server withholding entries would. */
  readonly withheld = new Set<number>();
  private readonly conversations = new Map<string, FakeConversation>();

  private constructor(
    private readonly http: HttpServer,
    readonly io: Server<ClientToServer, ServerToClient>,
    readonly url: string,
  ) {}

  /** Starts a gateway on a free port; `isRecovering` turns on socket.io's connection state recovery. */
  static async start(options: { isRecovering?: boolean } = {}): Promise<FakeGateway> {
    const http = createServer();
    const io = new Server<ClientToServer, ServerToClient>(http, options.isRecovering ? { connectionStateRecovery: {} } : {});
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    const gateway = new FakeGateway(http, io, `http://127.0.0.1:${(http.address() as AddressInfo).port}`);
    gateway.listen();
    return gateway;
  }

  /** Appends a message from the other participant; `isRelayed: false` stores it without relaying it (a fact this socket misses). */
  append(conversationId: string, send: ConversationSend, { isRelayed = true } = {}): RecordEntry {
    const conversation = this.conversation(conversationId);
    const entry = toEntry(send, conversation.entries.length + 1);
    conversation.entries.push(entry);
    conversation.byClientMessageId.set(send.clientMessageId, entry);
    if (isRelayed) this.io.to(room(conversationId)).emit('message:relayed', entry);
    return entry;
  }

  /** Relays an entry again, as a server re-emitting after a reconnection would. */
  relay(entry: RecordEntry): void {
    this.io.to(room(entry.conversationId)).emit('message:relayed', entry);
  }

  /** The stored record of a conversation. */
  entriesOf(conversationId: string): RecordEntry[] {
    return [...this.conversation(conversationId).entries];
  }

  /** The commands of one name received so far. */
  commandsNamed(event: string): unknown[] {
    return this.commands.filter((command) => command.event === event).map((command) => command.payload);
  }

  /** Cuts every client's transport, as a network failure would: the clients reconnect. */
  cutTransports(): void {
    for (const socket of this.io.sockets.sockets.values()) socket.conn.close();
  }

  /** Tells every client its session ended, then cuts its transport (as a network failure would, so a naive client reconnects). */
  endSessions(reason: SessionEnded['reason']): void {
    for (const socket of this.io.sockets.sockets.values()) {
      socket.emit('session:ended', { reason });
      setTimeout(() => socket.conn.close(), 20);
    }
  }

  /** Stops the server and disconnects every client. */
  async close(): Promise<void> {
    await new Promise((resolve) => this.io.close(resolve));
    this.http.closeAllConnections();
  }

  private listen(): void {
    this.io.use((socket, next) => {
      const token: unknown = socket.handshake.auth['token'];
      this.handshakes.push(typeof token === 'string' ? token : undefined);
      if (this.handshakeFaults > 0) {
        this.handshakeFaults -= 1;
        next(new Error('internal'));
      } else if (typeof token === 'string' && this.refusedTokens.has(token)) next(new Error('unauthorized'));
      else next();
    });
    this.io.on('connection', (socket) => this.serve(socket));
  }

  private serve(socket: FakeSocket): void {
    const isSilent = socket.handshake.auth['token'] === 'silent';
    socket.onAny((event: string, payload: unknown) => this.commands.push({ event, payload }));
    socket.on('system:ping', (_payload, ack) => {
      if (!isSilent) ack({ ok: true, data: { protocolVersion: 1, serverTime: new Date(0).toISOString() } });
    });
    socket.on('conversation:join', async ({ conversationId }, ack) => {
      await socket.join(room(conversationId));
      ack({
        ok: true,
        data: { conversation: summaryOf(conversationId, this.conversation(conversationId)), envelopes: [], devices: [], patientAccount: null, receipts: [] },
      });
    });
    socket.on('conversation:send', (payload, ack) => {
      if (!this.beforeSend(payload)) return;
      if (this.sendRefusal) return ack({ ok: false, error: this.sendRefusal });
      const result = this.store(payload);
      if (this.sendAcksToDrop > 0) {
        this.sendAcksToDrop -= 1;
        return;
      }
      ack(result);
    });
    socket.on('conversation:sync', (payload, ack) => {
      const { entries } = this.conversation(payload.conversationId);
      const limit = payload.limit ?? 200;
      const after = entries.filter((entry) => entry.seq > payload.afterSeq && !this.withheld.has(entry.seq));
      const page = after.slice(0, limit);
      this.beforeSyncAnswer(payload);
      ack({ ok: true, data: { entries: page, lastSeq: entries.length, hasMore: after.length > limit } });
    });
    socket.on('conversation:receipt', (payload, ack) => {
      this.receipts.push(payload);
      ack({ ok: true, data: null });
    });
  }

  /** Stores a send once; the same id again is a duplicate with the same ciphertext and a conflict otherwise (docs/protocol.md, "Delivery"). */
  private store(payload: ConversationSend): { ok: true; data: SendResult } | { ok: false; error: { code: 'conflict'; message: string } } {
    const conversation = this.conversation(payload.conversationId);
    const existing = conversation.byClientMessageId.get(payload.clientMessageId);
    if (existing) {
      if (existing.message?.ciphertext !== payload.ciphertext) return { ok: false, error: { code: 'conflict', message: 'different content' } };
      return { ok: true, data: { seq: existing.seq, serverTime: existing.serverTime, isDuplicate: true } };
    }
    const entry = this.append(payload.conversationId, payload);
    return { ok: true, data: { seq: entry.seq, serverTime: entry.serverTime, isDuplicate: false } };
  }

  private conversation(conversationId: string): FakeConversation {
    const existing = this.conversations.get(conversationId);
    if (existing) return existing;
    const created: FakeConversation = { entries: [], byClientMessageId: new Map() };
    this.conversations.set(conversationId, created);
    return created;
  }
}

function room(conversationId: string): string {
  return `conversation:${conversationId}`;
}

function toEntry(send: ConversationSend, seq: number): RecordEntry {
  return {
    conversationId: send.conversationId,
    seq,
    kind: 'message',
    serverTime: new Date(seq * 1000).toISOString(),
    hash: seq.toString(16).padStart(64, '0'),
    message: {
      epoch: send.epoch,
      senderUserId: '00000000-0000-4000-8000-000000000001',
      senderDeviceId: '00000000-0000-4000-8000-000000000002',
      senderRole: 'patient',
      senderDeviceSeq: send.senderDeviceSeq,
      clientMessageId: send.clientMessageId,
      contentType: send.contentType,
      ciphertext: send.ciphertext,
      nonce: send.nonce,
    },
  };
}

function summaryOf(conversationId: string, conversation: FakeConversation) {
  return {
    id: conversationId,
    practiceId: '00000000-0000-4000-8000-000000000003',
    practiceOdsCode: 'Y00001',
    patientId: '00000000-0000-4000-8000-000000000001',
    topic: 'general',
    status: 'waiting' as const,
    assignedClinicianId: null,
    currentEpoch: 1,
    lastSeq: conversation.entries.length,
    createdAt: new Date(0).toISOString(),
    urgentAt: null,
  };
}
