import { conversationLink, openConversationMessage } from '../lib/notification-link.js';
import { NEUTRAL_TITLE, NOTIFICATION_BODY, readPushNotice, registerPushHandlers, type PushWorkerScope } from './push.js';

const CONVERSATION_ID = '0b7f8a3c-5d2e-4f10-9a6b-1c2d3e4f5a6b';

type Listener = (event: never) => void;

/** A service worker scope in memory: records the notifications shown, the windows' messages and the windows opened. */
function aWorkerScope(windowUrls: string[] = []) {
  const listeners = new Map<string, Listener>();
  const shown: { title: string; options: NotificationOptions | undefined }[] = [];
  const opened: string[] = [];
  const windows = windowUrls.map((url) => ({ url, messages: [] as unknown[], focused: 0 }));
  const scope: PushWorkerScope = {
    location: { origin: 'https://parley.example' },
    registration: {
      showNotification: async (title, options) => {
        shown.push({ title, options });
      },
    },
    clients: {
      matchAll: async () =>
        windows.map((window) => ({
          url: window.url,
          focus: async () => (window.focused += 1),
          postMessage: (message: unknown) => window.messages.push(message),
        })),
      openWindow: async (url) => opened.push(url),
    },
    addEventListener: (type: string, listener: Listener) => listeners.set(type, listener),
  };
  registerPushHandlers(scope);
  /** Fires an event at the handler and waits for what it passed to `waitUntil`. */
  const fire = async (type: 'push' | 'notificationclick', event: object): Promise<void> => {
    const waits: Promise<unknown>[] = [];
    listeners.get(type)?.({ ...event, waitUntil: (promise: Promise<unknown>) => waits.push(promise) } as never);
    await Promise.all(waits);
  };
  const push = (text: string | null) => fire('push', { data: text === null ? null : { text: () => text } });
  const tap = (data: unknown) => {
    let closed = 0;
    return fire('notificationclick', { notification: { data, close: () => (closed += 1) } }).then(() => closed);
  };
  return { shown, opened, windows, push, tap };
}

describe(readPushNotice.name, () => {
  it('takes the conversation and, when the practice chose to show it, the practice name', () => {
    expect(readPushNotice(JSON.stringify({ v: 1, kind: 'new-message', conversationId: CONVERSATION_ID, title: 'Riverside Surgery' }))).toEqual({
      title: 'Riverside Surgery',
      conversationId: CONVERSATION_ID,
    });
  });

  it('titles the notice with the app’s neutral name when the practice shows none', () => {
    expect(readPushNotice(JSON.stringify({ v: 1, kind: 'new-message', conversationId: CONVERSATION_ID, title: null })).title).toBe(NEUTRAL_TITLE);
    expect(readPushNotice(JSON.stringify({ v: 1, kind: 'new-message', conversationId: CONVERSATION_ID, title: '   ' })).title).toBe(NEUTRAL_TITLE);
  });

  it('keeps a title to one short line', () => {
    const title = readPushNotice(JSON.stringify({ v: 1, kind: 'new-message', conversationId: CONVERSATION_ID, title: `A\n\nB ${'x'.repeat(200)}` })).title;

    expect(title.startsWith('A B x')).toBe(true);
    expect(title).toHaveLength(60);
  });

  it('gives a neutral notice that opens the app’s home for a payload it does not know', () => {
    const neutral = { title: NEUTRAL_TITLE, conversationId: null };

    expect(readPushNotice(null)).toEqual(neutral);
    expect(readPushNotice('not json')).toEqual(neutral);
    expect(readPushNotice('[1,2]')).toEqual(neutral);
    expect(readPushNotice(JSON.stringify({ v: 2, kind: 'new-message', conversationId: CONVERSATION_ID, title: 'X' }))).toEqual(neutral);
    expect(readPushNotice(JSON.stringify({ v: 1, kind: 'message', conversationId: CONVERSATION_ID, title: 'X' }))).toEqual(neutral);
    expect(readPushNotice(JSON.stringify({ v: 1, kind: 'new-message', conversationId: '../../staff', title: null }))).toEqual(neutral);
  });
});

describe(registerPushHandlers.name, () => {
  it('shows only “You have a new message”, whatever else a push carries', async () => {
    const scope = aWorkerScope();

    await scope.push(
      JSON.stringify({ v: 1, kind: 'new-message', conversationId: CONVERSATION_ID, title: null, body: 'Your test results', sender: 'Dr Smith' }),
    );

    expect(scope.shown).toHaveLength(1);
    expect(scope.shown[0]?.title).toBe(NEUTRAL_TITLE);
    expect(scope.shown[0]?.options).toEqual(
      expect.objectContaining({ body: NOTIFICATION_BODY, tag: CONVERSATION_ID, data: { conversationId: CONVERSATION_ID } }),
    );
    expect(JSON.stringify(scope.shown)).not.toMatch(/results|Smith/);
  });

  it('still shows a notice for a push without a payload (the browser requires one for every push)', async () => {
    const scope = aWorkerScope();

    await scope.push(null);

    expect(scope.shown).toEqual([{ title: NEUTRAL_TITLE, options: expect.objectContaining({ body: NOTIFICATION_BODY, data: { conversationId: null } }) }]);
  });

  it('asks the open patient window to show the conversation, and brings it to the front', async () => {
    const scope = aWorkerScope(['https://parley.example/staff/', 'https://parley.example/']);

    const closed = await scope.tap({ conversationId: CONVERSATION_ID });

    expect(closed).toBe(1);
    expect(scope.windows[1]?.messages).toEqual([openConversationMessage(CONVERSATION_ID)]);
    expect(scope.windows[1]?.focused).toBe(1);
    expect(scope.windows[0]?.messages).toEqual([]);
    expect(scope.opened).toEqual([]);
  });

  it('opens the conversation’s link when no patient window is open', async () => {
    const scope = aWorkerScope(['https://parley.example/staff/']);

    await scope.tap({ conversationId: CONVERSATION_ID });

    expect(scope.opened).toEqual([conversationLink(CONVERSATION_ID)]);
  });

  it('opens the app’s home for a notice that names no well-formed conversation', async () => {
    const scope = aWorkerScope();

    await scope.tap({ conversationId: 'javascript:alert(1)' });

    expect(scope.opened).toEqual(['/']);
  });
});
