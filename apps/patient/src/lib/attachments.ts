// What the patient app decides about a photo or document before and after it is sent, in words a patient reads
// (docs/patient-client.md, "Photos and documents"). Pure: the canvas re-encode is @parley/web's, the upload the sdk's.
import type { AttachmentSettings, AttachmentType } from '@parley/protocol';
import { describeError } from './state/notices.js';

const MIB = 1_048_576;

/** A size as a patient reads it: "850 KB", "1.2 MB", "10 MB" (binary units, so the practice's 10 MiB limit reads "10 MB"). */
export function formatBytes(bytes: number): string {
  if (bytes < MIB) return `${Math.max(1, Math.round(bytes / 1024))} KB`;
  const mb = bytes / MIB;
  return `${mb < 10 ? Math.round(mb * 10) / 10 : Math.round(mb)} MB`;
}

/** What the practice's settings let the patient pick now (nothing in a conversation where they may not send files). */
export interface AttachOffer {
  /** "Take a photo": the camera's photo is re-encoded as JPEG, so the practice must accept JPEG. */
  canTakePhoto: boolean;
  /** The `accept` of "Add a photo or PDF" (empty when it is not offered). */
  accept: string;
  /** Its label: "Add a photo or PDF", "Add a photo" or "Add a PDF". */
  addLabel: string;
}

/**
 * The buttons the practice's settings allow: `always` offers them, `when-asked` only while a clinician's request is
 * open, `never` (or settings not known yet) never. The server checks the same rules again; this only spares a refusal.
 */
export function attachOffer(settings: AttachmentSettings | null, hasOpenRequest: boolean): AttachOffer | null {
  if (!settings || settings.patientUploads === 'never') return null;
  if (settings.patientUploads === 'when-asked' && !hasOpenRequest) return null;
  const canSendPhotos = settings.acceptedTypes.includes('image/jpeg');
  const canSendPdfs = settings.acceptedTypes.includes('application/pdf');
  if (!canSendPhotos && !canSendPdfs) return null;
  return {
    canTakePhoto: canSendPhotos,
    accept: [...(canSendPhotos ? ['image/*'] : []), ...(canSendPdfs ? ['application/pdf'] : [])].join(','),
    addLabel: canSendPhotos && canSendPdfs ? 'Add a photo or PDF' : canSendPhotos ? 'Add a photo' : 'Add a PDF',
  };
}

const TYPE_WORDS: Record<AttachmentType, string> = {
  'image/jpeg': 'JPEG photos',
  'image/png': 'PNG pictures',
  'image/webp': 'WebP pictures',
  'application/pdf': 'PDF documents',
};

/**
 * Why a picked file cannot go, from its magic bytes (`sniffed`, null when it is no type Parley sends) and what the
 * browser guessed from its name (`declaredType`, often empty from a camera); null when it may be prepared.
 * A file whose name says photo but whose bytes are a PDF (or the other way round) is refused: it is not what it says.
 */
export function pickRefusal(sniffed: AttachmentType | null, declaredType: string, settings: AttachmentSettings): string | null {
  if (sniffed === null)
    return 'This file cannot be sent: it is not a photo (JPEG, PNG or WebP) or a PDF. Nothing was sent. Choose another file, or take a photo.';
  const isImage = sniffed !== 'application/pdf';
  const saysImage = declaredType.startsWith('image/');
  const saysPdf = declaredType === 'application/pdf';
  if ((isImage && saysPdf) || (!isImage && saysImage))
    return `This file is not what its name says: it is named as ${saysPdf ? 'a PDF' : 'a photo'} but is ${isImage ? 'a picture' : 'a PDF'} inside. Nothing was sent. Choose another file.`;
  // A photo goes as the JPEG the canvas makes, so the practice must take both what was picked and JPEG.
  const needed: AttachmentType[] = isImage ? [sniffed, 'image/jpeg'] : [sniffed];
  const refused = needed.find((type) => !settings.acceptedTypes.includes(type));
  if (refused) return `Your practice does not accept ${TYPE_WORDS[refused]} online. Nothing was sent.`;
  return null;
}

/** Why a prepared file is too large for the practice's per-file limit (what is sent: the re-encoded photo, the PDF as it is); null when it fits. */
export function sizeRefusal(plainBytes: number, settings: AttachmentSettings): string | null {
  if (plainBytes <= settings.maxFileBytes) return null;
  return `This file is too large to send: it is ${formatBytes(plainBytes)}, and your practice accepts files up to ${formatBytes(settings.maxFileBytes)}. Nothing was sent.`;
}

/**
 * The name a file is sent under: neutral and dated ("photo-2026-12-05.jpg"), never the camera's or the patient's
 * file name, which can carry a name, a place or a device serial.
 */
export function neutralName(type: AttachmentType, now = new Date()): string {
  const day = `${now.getFullYear()}-${String(now.getMonth() + 1).padStart(2, '0')}-${String(now.getDate()).padStart(2, '0')}`;
  return type === 'application/pdf' ? `document-${day}.pdf` : `photo-${day}.jpg`;
}

/** A refusal the gateway (or the sdk) gave for an attachment, in words: the limit in MB, the practice's rule, or the usual reasons. */
export function attachmentRefusalText(error: { code: string; message?: string; details?: Record<string, unknown> }): string {
  const details = error.details ?? {};
  const maxBytes = typeof details['maxBytes'] === 'number' ? details['maxBytes'] : null;
  const limit = maxBytes === null ? '' : ` (${formatBytes(maxBytes)})`;
  switch (error.code) {
    case 'too_large':
      if (details['limit'] === 'conversation')
        return `Your file was not sent: this conversation already holds as much in files as your practice accepts${limit}. If the practice needs more, they will tell you how.`;
      if (details['limit'] === 'daily')
        return `Your file was not sent: you have sent as much in files today as your practice accepts in a day${limit}. Please try again tomorrow, or phone the practice.`;
      return `Your file was not sent: it is larger than your practice accepts${limit}.`;
    case 'forbidden':
      if (details['reason'] === 'not_requested')
        return 'Your file was not sent: your practice accepts photos and documents only when a clinician asks for one.';
      if (details['reason'] === 'not_accepted') return 'Your file was not sent: your practice does not accept photos or documents online.';
      break;
    case 'invalid_payload':
      if (details['reason'] === 'type_not_accepted') return 'Your file was not sent: your practice does not accept this type of file.';
      break;
    case 'conflict':
      return 'Your file was not sent: this conversation is closed, or the upload was interrupted. Please try again.';
  }
  const retryAfter = typeof details['retryAfterSeconds'] === 'number' ? details['retryAfterSeconds'] : undefined;
  return `Your file was not sent. ${describeError(error.code, error.message, retryAfter)}`;
}
