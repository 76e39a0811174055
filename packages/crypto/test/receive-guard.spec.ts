import type { ReceivedMessage } from '../src/index.js';
import { ReceiveGuard } from '../src/index.js';
import { aUuid, errorCodeOf } from './factories.js';

describe(ReceiveGuard.name, () => {
  const conversationId = aUuid();
  const senderDeviceId = aUuid();
  const message = (seq: number, clientMsgId = aUuid()): ReceivedMessage => ({ conversationId, senderDeviceId, senderDeviceSeq: seq, clientMsgId });

  it('accepts consecutive sequence numbers without a gap', () => {
    const guard = new ReceiveGuard();

    const results = [1, 2, 3].map((seq) => guard.accept(message(seq)));

    expect(results).toEqual([{ gap: null }, { gap: null }, { gap: null }]);
  });

  it('rejects a repeated (sender device, client message id) as duplicate', () => {
    const guard = new ReceiveGuard();
    const first = message(1);
    guard.accept(first);

    expect(errorCodeOf(() => guard.accept(first))).toBe('duplicate');
    expect(errorCodeOf(() => guard.accept({ ...first, senderDeviceSeq: 2, clientMsgId: first.clientMsgId.toUpperCase() }))).toBe('duplicate');
  });

  it('rejects a sequence number already seen under a new client message id as replayed', () => {
    const guard = new ReceiveGuard();
    guard.accept(message(1));
    guard.accept(message(2));

    expect(errorCodeOf(() => guard.accept(message(1)))).toBe('replayed');
    expect(errorCodeOf(() => guard.accept(message(2)))).toBe('replayed');
  });

  it('reports a gap as the missing range instead of throwing', () => {
    const guard = new ReceiveGuard();
    guard.accept(message(1));

    const result = guard.accept(message(5));

    expect(result).toEqual({ gap: { from: 2n, to: 4n } });
    expect(guard.missing(conversationId, senderDeviceId)).toEqual([{ from: 2n, to: 4n }]);
  });

  it('reports messages before the first one seen as missing', () => {
    const guard = new ReceiveGuard();

    expect(guard.accept(message(3))).toEqual({ gap: { from: 1n, to: 2n } });
  });

  it('fills a gap with a late message and still rejects its replay', () => {
    const guard = new ReceiveGuard();
    guard.accept(message(1));
    guard.accept(message(5));

    const late = guard.accept(message(3));

    expect(late).toEqual({ gap: null });
    expect(guard.missing(conversationId, senderDeviceId)).toEqual([
      { from: 2n, to: 2n },
      { from: 4n, to: 4n },
    ]);
    expect(errorCodeOf(() => guard.accept(message(3)))).toBe('replayed');
  });

  it('keeps sequences of each (device, conversation) apart', () => {
    const guard = new ReceiveGuard();
    guard.accept(message(1));

    const otherConversation = guard.accept({ ...message(1), conversationId: aUuid() });
    const otherDevice = guard.accept({ ...message(1), senderDeviceId: aUuid() });

    expect([otherConversation, otherDevice]).toEqual([{ gap: null }, { gap: null }]);
  });

  it('remembers everything across toState and fromState through JSON', () => {
    const guard = new ReceiveGuard();
    const first = message(1);
    guard.accept(first);
    guard.accept(message(4));

    const restored = ReceiveGuard.fromState(JSON.parse(JSON.stringify(guard.toState())));

    expect(errorCodeOf(() => restored.accept(first))).toBe('duplicate');
    expect(errorCodeOf(() => restored.accept(message(4)))).toBe('replayed');
    expect(restored.missing(conversationId, senderDeviceId)).toEqual([{ from: 2n, to: 3n }]);
  });

  it('refuses a malformed state or sequence as invalid_input', () => {
    const guard = new ReceiveGuard();

    expect(errorCodeOf(() => ReceiveGuard.fromState({ clientMsgIds: [], streams: [{ conversationId, senderDeviceId, highest: 'x', missing: [] }] }))).toBe(
      'invalid_input',
    );
    expect(errorCodeOf(() => guard.accept(message(0)))).toBe('invalid_input');
  });
});
