import { Injectable } from '@nestjs/common';
import type { ServerToClient } from '@parley/protocol';
import type { Server } from 'socket.io';
import { rooms } from './rooms.js';

/**
 * Sends server facts to rooms, on this node and (through the socket.io adapter) on every other.
 * The socket.io server is attached by the gateway that owns it once Nest has created it.
 */
@Injectable()
export class RealtimePublisher {
  private server: Server | undefined;
  /** Users to ask the other nodes about in the next turn of the event loop, and the answer they will share. */
  private asking: { users: Set<string>; online: Promise<Set<string>> } | undefined;

  attach(server: Server): void {
    this.server = server;
  }

  /** Emits a fact to every socket in `room`, except the socket `exceptSocketId` if given. */
  publish<E extends keyof ServerToClient>(room: string, event: E, payload: Parameters<ServerToClient[E]>[0], exceptSocketId?: string): void {
    if (!this.server) return;
    const target = exceptSocketId ? this.server.to(room).except(exceptSocketId) : this.server.to(room);
    target.emit(event, payload);
  }

  /**
   * Whether `userId` has a socket on any node. A socket on this node answers at once; only otherwise are the other
   * nodes asked (a staff message tells the notifications whether its patient is away: usually the patient is here),
   * once for all the users asked about in the same turn of the event loop: a record batch's entries for patients on
   * other nodes make one cross-node request, not one each. Rejects as `usersIn` does.
   */
  async isUserOnline(userId: string): Promise<boolean> {
    if (!this.server) return false;
    const room = rooms.user(userId);
    if ((this.server.of('/').adapter.rooms.get(room)?.size ?? 0) > 0) return true;
    if (!this.asking) {
      const users = new Set<string>();
      const online = new Promise<void>((resolve) => setImmediate(resolve)).then(() => {
        this.asking = undefined;
        return this.usersIn([...users].map((user) => rooms.user(user)));
      });
      this.asking = { users, online };
    }
    this.asking.users.add(userId);
    return (await this.asking.online).has(userId);
  }

  /** Ids of the users with at least one socket in `room` (or any of `rooms`), other than `exceptSocketId`, across nodes. Rejects when the other nodes cannot be asked (Redis out of reach). */
  async usersIn(room: string | string[], exceptSocketId?: string): Promise<Set<string>> {
    if (!this.server) return new Set();
    const sockets = await this.server.in(room).fetchSockets();
    const others = sockets.filter((socket) => socket.id !== exceptSocketId);
    return new Set(others.map((socket) => (socket.data as { actor?: { userId: string } }).actor?.userId).filter((id): id is string => !!id));
  }
}
