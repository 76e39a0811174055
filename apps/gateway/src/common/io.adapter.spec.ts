import { EventEmitter } from 'node:events';
import type { INestApplicationContext } from '@nestjs/common';
import type { MessageMappingProperties } from '@nestjs/websockets';
import { from, type Observable } from 'rxjs';
import type { Socket } from 'socket.io';
import { isAllowedOrigin, ParleyIoAdapter } from './io.adapter.js';

/** A socket as the adapter uses it: an EventEmitter that calls its listeners with itself as `this`. */
const aSocket = () => new EventEmitter() as unknown as Socket;
/** Nest's transform: await the handler's result (here never an Observable). */
const transform = (result: unknown): Observable<unknown> => from(Promise.resolve(result));
/** What the client's ack receives, once. */
const answerOf = (socket: Socket, event: string, payload: unknown) =>
  new Promise<unknown>((resolve) => (socket as unknown as EventEmitter).emit(event, payload, resolve));
/** A gateway's handlers as Nest binds them for one socket. */
const handlers = (socket: string, isAckHandledManually = false): MessageMappingProperties[] => [
  { message: 'hours:get', methodName: 'get', isAckHandledManually, callback: async (data: unknown) => ({ socket, data }) },
];

describe('isAllowedOrigin', () => {
  it('lets a client without an Origin through (it is not a browser; it still needs a token)', () => {
    expect(isAllowedOrigin(undefined, 'chat.example:443', [])).toBe(true);
  });

  it('allows a page served by this gateway, whose Origin names the Host it connects to', () => {
    expect(isAllowedOrigin('http://127.0.0.1:3000', '127.0.0.1:3000', [])).toBe(true);
  });

  it('allows a configured origin', () => {
    expect(isAllowedOrigin('https://static.example', 'chat.example', ['https://static.example'])).toBe(true);
  });

  it('refuses any other origin, including a look-alike port or a malformed value', () => {
    expect(isAllowedOrigin('https://evil.example', 'chat.example', ['https://static.example'])).toBe(false);
    expect(isAllowedOrigin('http://127.0.0.1:3001', '127.0.0.1:3000', [])).toBe(false);
    expect(isAllowedOrigin('null', 'chat.example', [])).toBe(false);
  });
});

describe(ParleyIoAdapter.name, () => {
  const newAdapter = () => new ParleyIoAdapter(undefined as unknown as INestApplicationContext, []);

  it("answers a command's ack with what the handler bound for that socket returns, through one listener shared by every socket", async () => {
    const adapter = newAdapter();
    const first = aSocket();
    const second = aSocket();
    adapter.bindMessageHandlers(first, handlers('first'), transform);
    adapter.bindMessageHandlers(second, handlers('second'), transform);

    const answers = await Promise.all([answerOf(first, 'hours:get', { n: 1 }), answerOf(second, 'hours:get', { n: 2 })]);

    expect(answers).toEqual([
      { socket: 'first', data: { n: 1 } },
      { socket: 'second', data: { n: 2 } },
    ]);
    expect(first.listeners('hours:get')).toEqual(second.listeners('hours:get'));
  });

  it('leaves the ack to a handler that answers it itself', async () => {
    const adapter = newAdapter();
    const socket = aSocket();
    const acks: unknown[] = [];
    const handled = new Promise<void>((resolve) =>
      adapter.bindMessageHandlers(
        socket,
        [{ message: 'hours:get', methodName: 'get', isAckHandledManually: true, callback: async () => (resolve(), { ignored: true }) }],
        transform,
      ),
    );

    (socket as unknown as EventEmitter).emit('hours:get', {}, (answer: unknown) => acks.push(answer));
    await handled;
    // Everything the handler's result sets off (the transform's promise, the subscription) is done by the next turn.
    await new Promise(setImmediate);

    expect(acks).toEqual([]);
  });

  it("refuses a second gateway's handler for a command another gateway already handles", () => {
    const adapter = newAdapter();
    const socket = aSocket();
    adapter.bindMessageHandlers(socket, handlers('first'), transform);

    expect(() => adapter.bindMessageHandlers(socket, handlers('second'), transform)).toThrow('two gateways handle hours:get');
  });

  it("runs every gateway's disconnect hook once, in the order they were bound, from one listener per socket", () => {
    const adapter = newAdapter();
    const socket = aSocket();
    const calls: string[] = [];
    adapter.bindClientDisconnect(socket, (reason) => calls.push(`a:${String(reason)}`));
    adapter.bindClientDisconnect(socket, (reason) => calls.push(`b:${String(reason)}`));

    (socket as unknown as EventEmitter).emit('disconnect', 'transport close');
    (socket as unknown as EventEmitter).emit('disconnect', 'again');

    expect(calls).toEqual(['a:transport close', 'b:transport close']);
    expect(socket.listeners('disconnect')).toHaveLength(1);
  });
});
