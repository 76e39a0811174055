import type { AttachmentSettings } from '@parley/protocol';
import type { Conversation, OutgoingFile } from '@parley/sdk';
import { reencodeImage, sniffAttachmentType } from '@parley/web';
import { attachmentRefusalText, neutralName, pickRefusal, sizeRefusal } from '../attachments';

/** A file the patient picked, prepared on the device: a photo re-encoded (no EXIF), a PDF as it is. */
export interface PreparedFile {
  file: OutgoingFile;
  /** The re-encoded photo as an object URL for the preview (null for a PDF, which is never rendered). */
  previewUrl: string | null;
  /** What the patient's phone called it, to recognise a PDF in the preview (never sent: the file goes as `file.name`). */
  pickedName: string;
}

/**
 * The file waiting in the composer and its upload (docs/patient-client.md, "Photos and documents"): pick → sniff
 * by magic bytes → re-encode a photo through a canvas → check the practice's type and size limits → preview; then
 * the sdk encrypts, uploads (resuming after a dropped connection) and sends it with the caption. Cancel aborts the
 * upload and the sdk deletes it from the server. One per chat.
 */
export class AttachmentDraft {
  prepared = $state.raw<PreparedFile | null>(null);
  isPreparing = $state(false);
  /** Bytes sent of the encrypted upload while sending; null when nothing is being sent. */
  progress = $state.raw<{ sentBytes: number; totalBytes: number } | null>(null);
  error = $state<string | null>(null);
  /** A quiet confirmation ("Sending stopped…"), shown in a status region. */
  notice = $state<string | null>(null);
  private controller: AbortController | null = null;
  /** Counts picks, so a slow re-encode of an earlier pick never replaces a newer one. */
  private pickCount = 0;

  constructor(private readonly settings: () => AttachmentSettings | null) {}

  get isSending(): boolean {
    return this.progress !== null;
  }

  /**
   * Prepares a picked file: refused in words (nothing is uploaded) when its bytes are no type the practice takes,
   * it is not what its name says, or it is larger than the practice's per-file limit once prepared.
   */
  async pick(picked: File): Promise<void> {
    const settings = this.settings();
    if (!settings || this.isSending) return;
    const pick = ++this.pickCount;
    this.clear();
    this.error = null;
    this.notice = null;
    this.isPreparing = true;
    try {
      const prepared = await this.prepare(picked, settings);
      if (pick !== this.pickCount) {
        if (prepared && typeof prepared !== 'string' && prepared.previewUrl) URL.revokeObjectURL(prepared.previewUrl);
        return;
      }
      if (typeof prepared === 'string') this.error = prepared;
      else this.prepared = prepared;
    } finally {
      if (pick === this.pickCount) this.isPreparing = false;
    }
  }

  /** Takes the picked file out of the composer (nothing was uploaded yet). */
  remove(): void {
    this.pickCount++;
    this.isPreparing = false;
    this.clear();
    this.error = null;
  }

  /**
   * Encrypts, uploads and sends the prepared file with `caption` (and the red flags found in it) through the sdk; a refusal is kept as `error` in
   * words and the file stays in the composer. Resolves whether it was sent.
   */
  async send(model: Conversation, caption: string, redFlags: readonly string[] = []): Promise<boolean> {
    const prepared = this.prepared;
    if (!prepared || this.isSending) return false;
    const controller = new AbortController();
    this.controller = controller;
    this.error = null;
    this.notice = null;
    this.progress = { sentBytes: 0, totalBytes: prepared.file.bytes.length };
    try {
      const result = await model.sendAttachments([prepared.file], {
        caption,
        ...(redFlags.length > 0 ? { redFlags } : {}),
        signal: controller.signal,
        onProgress: (progress) => {
          if (this.controller === controller) this.progress = progress;
        },
      });
      if (controller.signal.aborted) return false;
      if (!result.ok) {
        this.error = attachmentRefusalText(result.error);
        return false;
      }
      this.clear();
      return true;
    } catch (error) {
      if (controller.signal.aborted) return false;
      this.error = attachmentRefusalText(error as { code: string; message?: string });
      return false;
    } finally {
      if (this.controller === controller) {
        this.controller = null;
        this.progress = null;
      }
    }
  }

  /** Stops the upload in flight: the sdk deletes what reached the server; the file stays in the composer to send again or remove. */
  cancel(): void {
    if (!this.controller) return;
    this.controller.abort();
    this.controller = null;
    this.progress = null;
    this.notice = 'Sending stopped. Nothing was sent to the practice.';
  }

  /** Drops the file and its preview (the chat closed, or the session ended). */
  dispose(): void {
    this.cancel();
    this.remove();
  }

  private async prepare(picked: File, settings: AttachmentSettings): Promise<PreparedFile | string> {
    // A PDF larger than the limit is refused before it is even read; a photo is judged after the re-encode shrank it.
    const head = new Uint8Array(await picked.slice(0, 16).arrayBuffer());
    const sniffed = sniffAttachmentType(head);
    const refusal = pickRefusal(sniffed, picked.type, settings);
    if (refusal || !sniffed) return refusal ?? '';
    if (sniffed === 'application/pdf') {
      const tooLarge = sizeRefusal(picked.size, settings);
      if (tooLarge) return tooLarge;
      const bytes = new Uint8Array(await picked.arrayBuffer());
      return { file: { bytes, type: sniffed, name: neutralName(sniffed) }, previewUrl: null, pickedName: picked.name };
    }
    let image: Awaited<ReturnType<typeof reencodeImage>>;
    try {
      image = await reencodeImage(new Uint8Array(await picked.arrayBuffer()));
    } catch {
      return 'This photo could not be opened on this device, so it cannot be sent. Try taking it again, or choose another.';
    }
    const tooLarge = sizeRefusal(image.bytes.length, settings);
    if (tooLarge) return tooLarge;
    return {
      file: { bytes: image.bytes, type: image.type, name: neutralName(image.type), width: image.width, height: image.height },
      previewUrl: URL.createObjectURL(new Blob([image.bytes as Uint8Array<ArrayBuffer>], { type: image.type })),
      pickedName: picked.name,
    };
  }

  private clear(): void {
    if (this.prepared?.previewUrl) URL.revokeObjectURL(this.prepared.previewUrl);
    this.prepared = null;
  }
}
