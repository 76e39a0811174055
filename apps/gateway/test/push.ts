import type { LocalPushService, PushServiceSubscription } from '@parley/testing';
import { follow, patientChat, waitForAssignment, type Chatter } from './chat.js';
import { activatePatient, apiOk, type TestPatient, type TestPractice } from './factories.js';

/**
 * A patient connected to `url` with an open conversation assigned to `clinician` (who follows it too), its device
 * subscribed at `pushService`. The patient's chat joins `chats`, for the suite to close.
 */
export async function subscribedPatient(world: {
  url: string;
  practice: TestPractice;
  clinician: Chatter;
  pushService: LocalPushService;
  chats: Chatter[];
}): Promise<{ account: TestPatient; chat: Chatter; conversationId: string; subscription: PushServiceSubscription }> {
  const account = await activatePatient(world.url, world.practice);
  const chat = await patientChat(world.url, world.practice, account);
  world.chats.push(chat);
  const conversationId = (await chat.session.openConversation('admin')).id;
  await follow(chat, conversationId);
  await waitForAssignment(chat);
  await follow(world.clinician, conversationId);
  const subscription = world.pushService.subscribe();
  await apiOk(world.url, 'PUT', '/api/push/subscription', { token: account.token, body: subscription });
  return { account, chat, conversationId, subscription };
}
