import type { FeedEntry, OutboxStore } from '@parley/client';
import { ChatSession, openRecordKeys, type ChatEntry, type SignedIn as SdkSignedIn } from '@parley/sdk';
import { activatePatient, type TestPatient, type TestPractice, type TestStaff } from './factories.js';
import { waitUntil } from './wait.js';

/** A patient or clinician chatting through the real SDK: decrypted entries land in `entries`, in order. */
export interface Chatter {
  session: ChatSession;
  entries: FeedEntry<ChatEntry>[];
  /** Bodies of the messages opened so far, in seq order. */
  bodies(conversationId?: string): string[];
  /** Resolves once at least `count` entries of the conversation have arrived. */
  waitForEntries(count: number, timeoutMs?: number): Promise<void>;
}

function chatter(session: ChatSession): Chatter {
  const entries: FeedEntry<ChatEntry>[] = [];
  return {
    session,
    entries,
    bodies: () => entries.flatMap((entry) => (entry.ok && entry.value.kind === 'message' ? [entry.value.body] : [])),
    waitForEntries: (count, timeoutMs = 15_000) =>
      waitUntil(
        () => entries.length >= count,
        () => `${count} entries (${entries.length} arrived)`,
        timeoutMs,
      ),
  };
}

/** A patient's ChatSession (device keys and account key as activation made them). */
export async function patientChat(
  url: string,
  practice: TestPractice,
  patient: TestPatient,
  requestTimeoutMs = 3_000,
  outboxStore?: OutboxStore,
): Promise<Chatter> {
  const signedIn: SdkSignedIn = {
    session: patient.session,
    device: { deviceId: patient.deviceId, keys: patient.device },
    account: { signPublicKey: patient.account.signPublicKey, boxPublicKey: patient.account.boxPublicKey },
  };
  return chatter(await ChatSession.start({ baseUrl: url, signedIn, pinnedRoot: practice.root.signPublicKey, requestTimeoutMs, outboxStore }));
}

/** A member of staff's ChatSession, with the record keys opened from their device's grants. */
export async function staffChat(url: string, practice: TestPractice, staff: TestStaff, outboxStore?: OutboxStore): Promise<Chatter> {
  const signedIn: SdkSignedIn = { session: staff.session, device: { deviceId: staff.deviceId, keys: staff.device } };
  const recordKeys = await openRecordKeys({
    baseUrl: url,
    token: staff.token,
    odsCode: practice.odsCode,
    device: signedIn.device,
    pinnedRoot: practice.root.signPublicKey,
  });
  const session = await ChatSession.start({
    baseUrl: url,
    signedIn,
    pinnedRoot: practice.root.signPublicKey,
    recordKeys,
    requestTimeoutMs: 3_000,
    outboxStore,
  });
  // A clinician is ready for work, so conversations opened from now on are assigned to them and they may answer.
  if (staff.roles.includes('clinician')) await session.setAvailability('available');
  return chatter(session);
}

/** Resolves once the conversation's record shows it was assigned (routing runs after the open is acknowledged). */
export function waitForAssignment(who: Chatter, timeoutMs = 15_000): Promise<void> {
  return waitUntil(
    () => who.entries.some((entry) => entry.ok && entry.value.kind === 'system' && entry.value.event === 'assigned'),
    'the conversation to be assigned',
    timeoutMs,
  );
}

/**
 * Opens a conversation's model and hands every entry to `onEntry`, in seq order, once each (what
 * `Conversation.subscribe` reports as `entry`). Does nothing for a conversation the session already has open.
 */
export async function followConversation(session: ChatSession, conversationId: string, onEntry: (entry: FeedEntry<ChatEntry>) => void): Promise<void> {
  const conversation = session.conversation(conversationId);
  if (conversation.isOpen) return;
  conversation.subscribe((change) => change.kind === 'entry' && onEntry(change.entry));
  await conversation.open();
}

/** Follows a conversation, collecting its entries into the chatter. */
export function follow(who: Chatter, conversationId: string): Promise<void> {
  return followConversation(who.session, conversationId, (entry) => who.entries.push(entry));
}

/**
 * A newly activated patient opens a conversation and follows it; their chat goes into `open`, for the suite to
 * close when it ends.
 */
export async function openByNewPatient(
  url: string,
  practice: TestPractice,
  open: { close(): void }[],
  topic = 'admin',
): Promise<{ chat: Chatter; id: string }> {
  const chat = await patientChat(url, practice, await activatePatient(url, practice));
  open.push({ close: () => void chat.session.close() });
  const id = (await chat.session.openConversation(topic)).id;
  await follow(chat, id);
  return { chat, id };
}
