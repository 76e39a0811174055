/** What storing one part did: stored it, found the same bytes there already, or found other bytes there. */
export type PutPartOutcome = 'stored' | 'same' | 'different';

/**
 * Where the ciphertext parts of uploads live (docs/operations.md, "Attachments": PostgreSQL by default; how an
 * object store maps onto the same four methods). Upload metadata (who, which conversation, sizes, claims) stays in
 * PostgreSQL in every case (`AttachmentsRepository`); a store only keeps opaque bytes under (upload id, part index).
 * The default is `AttachmentPartsRepository` (rows of `attachment_chunks`).
 */
export abstract class AttachmentStore {
  /** Stores part `index` of an upload unless a part is there already, and says whether that one has the same bytes. */
  abstract putPart(uploadId: string, index: number, bytes: Buffer): Promise<PutPartOutcome>;
  /** The indexes of the parts stored for an upload, ascending. */
  abstract partIndexes(uploadId: string): Promise<number[]>;
  /** The parts 0..count-1 of an upload, in order, a few at a time (never the whole file in memory). */
  abstract readParts(uploadId: string, count: number): AsyncIterable<Buffer>;
  /** Removes every part of the given uploads (their metadata rows are the repository's). */
  abstract remove(uploadIds: readonly string[]): Promise<void>;
}
