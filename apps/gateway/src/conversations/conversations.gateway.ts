import { UseFilters, UseInterceptors } from '@nestjs/common';
import { ConnectedSocket, type OnGatewayConnection, type OnGatewayInit, WebSocketGateway } from '@nestjs/websockets';
import {
  ConversationEpoch,
  ConversationList,
  ConversationOpen,
  ConversationReceipt,
  ConversationRef,
  ConversationRequestAttachment,
  ConversationSend,
  isPlainTextSend,
  ConversationSync,
  ConversationTyping,
} from '@parley/protocol';
import type { Server, Socket } from 'socket.io';
import { AckInterceptor } from '../common/ack.interceptor.js';
import { Actor, primaryRole } from '../common/actor.js';
import { DomainError } from '../common/domain-error.js';
import { On } from '../common/on.decorator.js';
import { Payload } from '../common/payload.decorator.js';
import { RealtimePublisher } from '../common/realtime.publisher.js';
import { rooms } from '../common/rooms.js';
import { answerFailure, WsErrorFilter } from '../common/ws-error.filter.js';
import { validOrRefused } from '../common/schema.pipe.js';
import { SessionGuard } from '../sessions/session.guard.js';
import { SendLanes } from '../common/send-lanes.js';
import { AttachmentsService } from '../attachments/attachments.service.js';
import { ConversationsService } from './conversations.service.js';
import { ConversationOpeningService } from './opening.service.js';
import { ConversationEpochsService } from './epochs.service.js';

const CONVERSATION_ROOM_PREFIX = rooms.conversation('');

/** Socket commands of conversations: validate, call the service, return its result. */
@WebSocketGateway()
@UseInterceptors(AckInterceptor)
@UseFilters(WsErrorFilter)
export class ConversationsGateway implements OnGatewayInit, OnGatewayConnection {
  constructor(
    private readonly conversations: ConversationsService,
    private readonly sessionGuard: SessionGuard,
    private readonly lanes: SendLanes,
    private readonly opening: ConversationOpeningService,
    private readonly realtime: RealtimePublisher,
    private readonly epochs: ConversationEpochsService,
    private readonly attachments: AttachmentsService,
  ) {}

  afterInit(server: Server): void {
    this.realtime.attach(server);
  }

  handleConnection(socket: Socket): void {
    // 'disconnecting' still knows the socket's rooms: tell each conversation the member went offline. Best effort:
    // while Redis is out of reach the other nodes cannot be asked, and an unhandled rejection would end the process.
    socket.on('disconnecting', () => void this.announceOffline(socket).catch(() => undefined));
    // `conversation:send` is bound here rather than with @On: it must take its place in its lane the moment the socket
    // delivers it, before any asynchronous step (Nest's guard is one), and it is the hot path (no rxjs pipeline per send).
    socket.on('conversation:send', (payload: unknown, ack: unknown) => this.send(socket, payload, ack));
  }

  @On('conversation:open')
  open(@Actor() actor: Actor, @Payload(ConversationOpen) payload: ConversationOpen) {
    return this.opening.open(actor, payload);
  }

  @On('conversation:epoch')
  epoch(@Actor() actor: Actor, @Payload(ConversationEpoch) payload: ConversationEpoch) {
    return this.epochs.start(actor, payload);
  }

  /** A clinician's request for a photo or document (docs/protocol.md, "Attachments"). */
  @On('conversation:request-attachment')
  requestAttachment(@Actor() actor: Actor, @Payload(ConversationRequestAttachment) payload: ConversationRequestAttachment) {
    return this.attachments.requestAttachment(actor, payload);
  }

  @On('conversation:list')
  list(@Actor() actor: Actor, @Payload(ConversationList) _payload: ConversationList) {
    return this.conversations.list(actor);
  }

  /** The only way into a conversation's room: after the service's authorisation check. */
  @On('conversation:join')
  async join(@Actor() actor: Actor, @Payload(ConversationRef) payload: ConversationRef, @ConnectedSocket() socket: Socket) {
    const joined = await this.conversations.join(actor, payload.conversationId);
    const room = rooms.conversation(payload.conversationId);
    await socket.join(room);
    const presence = { conversationId: payload.conversationId, userId: actor.userId, role: primaryRole(actor), isOnline: true };
    this.realtime.publish(room, 'presence:changed', presence, socket.id);
    return joined;
  }

  @On('conversation:claim')
  claim(@Actor() actor: Actor, @Payload(ConversationRef) payload: ConversationRef) {
    return this.conversations.claim(actor, payload.conversationId);
  }

  /**
   * `conversation:send`, in the order the socket received it (SendLanes): the same session check as every command
   * (SessionGuard), the protocol's validation, then the service; answered like any other command.
   */
  private send(socket: Socket, payload: unknown, ack: unknown): void {
    const actor = (socket.data as { actor?: Actor }).actor;
    const conversationId = (payload as { conversationId?: unknown } | null)?.conversationId;
    const sent =
      actor && typeof conversationId === 'string'
        ? this.lanes.run(SendLanes.key(actor.deviceId, conversationId), SendLanes.identityOf(payload), (admit) =>
            this.checkedSend(socket, actor, payload, admit),
          )
        : this.checkedSend(socket, actor, payload, () => undefined);
    sent.then(
      (data) => {
        if (typeof ack === 'function') (ack as (answer: unknown) => void)({ ok: true, data });
      },
      (error: unknown) => answerFailure(socket, 'conversation:send', error, ack),
    );
  }

  private async checkedSend(socket: Socket, actor: Actor | undefined, payload: unknown, admit: () => void) {
    await this.sessionGuard.allowsSocket(socket);
    if (!actor) throw new DomainError('unauthorized');
    // A plain text send is checked without zod (the same rules, property-tested against the schema); the rest, and
    // anything refused, by the schema, which says why.
    const send = isPlainTextSend(payload) ? payload : (validOrRefused(ConversationSend, payload) as ConversationSend);
    return this.conversations.send(actor, send, admit);
  }

  @On('conversation:sync')
  sync(@Actor() actor: Actor, @Payload(ConversationSync) payload: ConversationSync, @ConnectedSocket() socket: Socket) {
    // A socket that joined was audited at the join; one that reads without joining is audited by the service.
    return this.conversations.sync(actor, payload, socket.rooms.has(rooms.conversation(payload.conversationId)));
  }

  @On('conversation:typing')
  typing(@Actor() actor: Actor, @Payload(ConversationTyping) payload: ConversationTyping, @ConnectedSocket() socket: Socket) {
    return this.conversations.typing(actor, payload, socket.id);
  }

  @On('conversation:receipt')
  receipt(@Actor() actor: Actor, @Payload(ConversationReceipt) payload: ConversationReceipt) {
    return this.conversations.receipt(actor, payload);
  }

  private async announceOffline(socket: Socket): Promise<void> {
    const actor = (socket.data as { actor?: Actor }).actor;
    if (!actor) return;
    for (const room of socket.rooms) {
      if (!room.startsWith(CONVERSATION_ROOM_PREFIX)) continue;
      const stillThere = await this.realtime.usersIn(room, socket.id);
      if (stillThere.has(actor.userId)) continue;
      const conversationId = room.slice(CONVERSATION_ROOM_PREFIX.length);
      this.realtime.publish(room, 'presence:changed', { conversationId, userId: actor.userId, role: primaryRole(actor), isOnline: false });
    }
  }
}
