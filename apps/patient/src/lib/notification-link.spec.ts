import { conversationLink, isOpenConversationMessage, openConversationMessage, parseConversationLink } from './notification-link.js';

const CONVERSATION_ID = '0b7f8a3c-5d2e-4f10-9a6b-1c2d3e4f5a6b';

describe(parseConversationLink.name, () => {
  it('reads back the conversation of a notification’s link', () => {
    expect(parseConversationLink(new URL(conversationLink(CONVERSATION_ID), 'https://parley.example').hash)).toBe(CONVERSATION_ID);
    expect(parseConversationLink(`#conversation=${CONVERSATION_ID.toUpperCase()}`)).toBe(CONVERSATION_ID);
  });

  it('ignores a fragment that names no conversation', () => {
    expect(parseConversationLink('')).toBeNull();
    expect(parseConversationLink('#practice=Y00001&code=ABCD-EFGH-JKMNP')).toBeNull();
    expect(parseConversationLink('#conversation=42')).toBeNull();
    expect(parseConversationLink(`conversation=${CONVERSATION_ID}`)).toBeNull();
  });
});

describe(isOpenConversationMessage.name, () => {
  it('accepts the service worker’s message and nothing else', () => {
    expect(isOpenConversationMessage(openConversationMessage(CONVERSATION_ID))).toBe(true);
    expect(isOpenConversationMessage(null)).toBe(false);
    expect(isOpenConversationMessage('parley:open-conversation')).toBe(false);
    expect(isOpenConversationMessage({ type: 'parley:open-conversation', conversationId: 'x' })).toBe(false);
    expect(isOpenConversationMessage({ type: 'other', conversationId: CONVERSATION_ID })).toBe(false);
  });
});
