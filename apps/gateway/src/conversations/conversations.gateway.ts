import { UseFilters, UseInterceptors } from '@nestjs/common';
import { ConnectedSocket, type OnGatewayConnection, type OnGatewayInit, WebSocketGateway } from '@nestjs/websockets';
import {
  ConversationList,
  ConversationOpen,
  ConversationReceipt,
  ConversationRef,
  ConversationSend,
  ConversationSync,
  ConversationTyping,
} from '@parley/protocol';
import type { Server, Socket } from 'socket.io';
import { AckInterceptor } from '../common/ack.interceptor.js';
import { Actor, primaryRole } from '../common/actor.js';
import { On } from '../common/on.decorator.js';
import { Payload } from '../common/payload.decorator.js';
import { RealtimePublisher } from '../common/realtime.publisher.js';
import { rooms } from '../common/rooms.js';
import { WsErrorFilter } from '../common/ws-error.filter.js';
import { ConversationsService } from './conversations.service.js';
import { ConversationOpeningService } from './opening.service.js';

const CONVERSATION_ROOM_PREFIX = rooms.conversation('');

/** Socket commands of conversations: validate, call the service, return its result. */
@WebSocketGateway()
@UseInterceptors(AckInterceptor)
@UseFilters(WsErrorFilter)
export class ConversationsGateway implements OnGatewayInit, OnGatewayConnection {
  constructor(
    private readonly conversations: ConversationsService,
    private readonly opening: ConversationOpeningService,
    private readonly realtime: RealtimePublisher,
  ) {}

  afterInit(server: Server): void {
    this.realtime.attach(server);
  }

  handleConnection(socket: Socket): void {
    // 'disconnecting' still knows the socket's rooms: tell each conversation the member went offline. Best effort:
    // while Redis is out of reach the other nodes cannot be asked, and an unhandled rejection would end the process.
    socket.on('disconnecting', () => void this.announceOffline(socket).catch(() => undefined));
  }

  @On('conversation:open')
  open(@Actor() actor: Actor, @Payload(ConversationOpen) payload: ConversationOpen) {
    return this.opening.open(actor, payload);
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

  @On('conversation:send')
  send(@Actor() actor: Actor, @Payload(ConversationSend) payload: ConversationSend) {
    return this.conversations.send(actor, payload);
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
