import type { Ack } from './ack.js';
import type {
  ConversationList,
  ConversationOpen,
  ConversationReceipt,
  ConversationRef,
  ConversationSend,
  ConversationSummary,
  ConversationSync,
  ConversationTyping,
  JoinedConversation,
  PresenceChanged,
  ReceiptUpdated,
  RecordEntry,
  SendResult,
  SessionEnded,
  SyncResult,
  TypingChanged,
} from './conversation.js';
import type { ConversationAssigned, QueueList, QueuePosition, QueueSnapshot, SetAvailability, SetClinicianCaps, SetPracticeLimits } from './queue.js';
import type { HoursGet, HoursStatus } from './hours.js';
import type { ConversationChanged, ConversationClose, ConversationHold, ConversationTransfer, FollowUp, FollowUpDone, FollowUpList } from './lifecycle.js';
import type { SystemPing, SystemPong } from './system.js';
import type { ConversationEpoch } from './epochs.js';
import type { Dashboard, DashboardGet } from './staff-console.js';
import type { AttachmentRequestResult, ConversationRequestAttachment } from './attachments.js';

type Command<P, R> = (payload: P, ack: (result: Ack<R>) => void) => void;

/** Commands a client sends; each answers through its ack. */
export interface ClientToServer {
  'system:ping': Command<SystemPing, SystemPong>;
  'conversation:open': Command<ConversationOpen, { conversation: ConversationSummary }>;
  'conversation:list': Command<ConversationList, { conversations: ConversationSummary[] }>;
  'conversation:join': Command<ConversationRef, JoinedConversation>;
  'conversation:send': Command<ConversationSend, SendResult>;
  'conversation:sync': Command<ConversationSync, SyncResult>;
  'conversation:typing': Command<ConversationTyping, null>;
  'conversation:receipt': Command<ConversationReceipt, null>;
  'hours:get': Command<HoursGet, HoursStatus>;
  'conversation:claim': Command<ConversationRef, { conversation: ConversationSummary }>;
  'queue:list': Command<QueueList, QueueSnapshot>;
  'staff:availability': Command<SetAvailability, null>;
  'capacity:set-clinician': Command<SetClinicianCaps, null>;
  'capacity:set-practice': Command<SetPracticeLimits, null>;
  'conversation:transfer': Command<ConversationTransfer, ConversationChanged>;
  'conversation:hold': Command<ConversationHold, ConversationChanged>;
  'conversation:close': Command<ConversationClose, ConversationChanged>;
  'follow-up:list': Command<FollowUpList, { followUps: FollowUp[] }>;
  'follow-up:done': Command<FollowUpDone, { followUp: FollowUp }>;
  'dashboard:get': Command<DashboardGet, Dashboard>;
  'conversation:urgent': Command<ConversationRef, { conversation: ConversationSummary }>;
  'conversation:epoch': Command<ConversationEpoch, { conversation: ConversationSummary }>;
  'conversation:request-attachment': Command<ConversationRequestAttachment, AttachmentRequestResult>;
}

/** Facts the server pushes to clients. */
export interface ServerToClient {
  'message:relayed': (entry: RecordEntry) => void;
  'conversation:typing': (fact: TypingChanged) => void;
  'receipt:updated': (fact: ReceiptUpdated) => void;
  'presence:changed': (fact: PresenceChanged) => void;
  'session:ended': (fact: SessionEnded) => void;
  'hours:status': (fact: HoursStatus) => void;
  'queue:updated': (fact: QueueSnapshot) => void;
  'conversation:assigned': (fact: ConversationAssigned) => void;
  'queue:position': (fact: QueuePosition) => void;
}

/** The command names, for code that must enumerate them (validation tables, the authorisation matrix). */
export type CommandName = keyof ClientToServer;
/** The payload type of a command. */
export type CommandPayload<E extends CommandName> = Parameters<ClientToServer[E]>[0];
/** The success data a command's ack carries. */
export type CommandResult<E extends CommandName> = Parameters<Parameters<ClientToServer[E]>[1]>[0] extends Ack<infer T> ? T : never;

/** Every command name, at run time: the gateway answers any other event as unknown. */
export const COMMAND_NAMES = [
  'system:ping',
  'conversation:open',
  'conversation:list',
  'conversation:join',
  'conversation:send',
  'conversation:sync',
  'conversation:typing',
  'conversation:receipt',
  'hours:get',
  'conversation:claim',
  'queue:list',
  'staff:availability',
  'capacity:set-clinician',
  'capacity:set-practice',
  'conversation:transfer',
  'conversation:hold',
  'conversation:close',
  'follow-up:list',
  'follow-up:done',
  'dashboard:get',
  'conversation:urgent',
  'conversation:epoch',
  'conversation:request-attachment',
] as const satisfies readonly CommandName[];
// Fails to compile when a command is added to ClientToServer but not to COMMAND_NAMES.
const everyCommandListed: [Exclude<CommandName, (typeof COMMAND_NAMES)[number]>] extends [never] ? true : never = true;
void everyCommandListed;
