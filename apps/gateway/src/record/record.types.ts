import type { RecordSystemEvent } from '@parley/protocol';

/** An encrypted message to append; its AD fields are stored as columns, the ciphertext opaque. */
export interface NewMessage {
  epoch: number;
  senderUserId: string;
  senderDeviceId: string;
  senderRole: 'patient' | 'clinician' | 'manager';
  senderDeviceSeq: number;
  clientMessageId: string;
  contentType: 'text' | 'attachment';
  ciphertext: Buffer;
  nonce: Buffer;
}

/** A system event to append: metadata only, never content; its events and their data are the protocol's (docs/protocol.md). */
export type NewSystemEvent = RecordSystemEvent;

export type NewEntry = { conversationId: string } & ({ message: NewMessage; system?: never } | { system: NewSystemEvent; message?: never });

/** What happened to one appended entry. */
export type AppendOutcome =
  /** Stored; `patientId` is the conversation's patient (read with its chain head, so listeners need not look it up). */
  | { status: 'stored'; seq: number; createdAt: Date; hash: Buffer; patientId: string }
  /** The same client message id was stored before with the same content: nothing new was written. */
  | { status: 'duplicate'; seq: number; createdAt: Date }
  /** The client message id, or the sender sequence number, was already used for different content. */
  | { status: 'conflict' }
  | { status: 'closed' }
  /** The message's epoch is not the conversation's current one: a later one nobody started, or one a newer epoch replaced. */
  | { status: 'unknown_epoch'; currentEpoch: number }
  | { status: 'stale_epoch'; currentEpoch: number }
  | { status: 'not_found' };

export type StoredOutcome = Extract<AppendOutcome, { status: 'stored' }>;

/** A stored entry, as read back for sync and verification. */
export interface StoredEntry {
  conversationId: string;
  seq: number;
  createdAt: Date;
  prevHash: Buffer;
  hash: Buffer;
  message?: NewMessage;
  system?: RecordSystemEvent;
}
