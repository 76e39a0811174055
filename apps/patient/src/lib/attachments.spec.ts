import type { AttachmentSettings } from '@parley/protocol';
import { attachmentRefusalText, attachOffer, formatBytes, neutralName, pickRefusal, sizeRefusal } from './attachments.js';

const SETTINGS: AttachmentSettings = {
  patientUploads: 'always',
  acceptedTypes: ['image/jpeg', 'image/png', 'image/webp', 'application/pdf'],
  maxFileBytes: 10 * 1_048_576,
  maxConversationBytes: 50 * 1_048_576,
  maxPatientDailyBytes: 50 * 1_048_576,
};

describe(attachOffer.name, () => {
  it('offers the camera and the files to a patient who may always send, and nothing when the practice takes none', () => {
    expect(attachOffer(SETTINGS, false)).toEqual({ canTakePhoto: true, accept: 'image/*,application/pdf', addLabel: 'Add a photo or PDF' });
    expect(attachOffer({ ...SETTINGS, patientUploads: 'never' }, true)).toBeNull();
    expect(attachOffer(null, true)).toBeNull();
  });

  it('offers them only while a clinician has asked, when the practice takes files only when asked', () => {
    const whenAsked = { ...SETTINGS, patientUploads: 'when-asked' as const };

    expect(attachOffer(whenAsked, false)).toBeNull();
    expect(attachOffer(whenAsked, true)).not.toBeNull();
  });

  it('offers no camera when the practice takes no JPEG (a photo always goes as the JPEG the canvas makes)', () => {
    expect(attachOffer({ ...SETTINGS, acceptedTypes: ['application/pdf'] }, false)).toEqual({
      canTakePhoto: false,
      accept: 'application/pdf',
      addLabel: 'Add a PDF',
    });
    expect(attachOffer({ ...SETTINGS, acceptedTypes: ['image/jpeg'] }, false)?.addLabel).toBe('Add a photo');
    expect(attachOffer({ ...SETTINGS, acceptedTypes: ['image/png'] }, false)).toBeNull();
  });
});

describe(pickRefusal.name, () => {
  it('accepts a photo or a PDF the practice takes, named or not (a camera names no type)', () => {
    expect(pickRefusal('image/jpeg', 'image/jpeg', SETTINGS)).toBeNull();
    expect(pickRefusal('image/png', '', SETTINGS)).toBeNull();
    expect(pickRefusal('application/pdf', 'application/pdf', SETTINGS)).toBeNull();
  });

  it('refuses bytes that are no type Parley sends, whatever the name says', () => {
    expect(pickRefusal(null, 'image/jpeg', SETTINGS)).toMatch(
      /^This file cannot be sent: it is not a photo \(JPEG, PNG or WebP\) or a PDF\. Nothing was sent\./,
    );
  });

  it('refuses a file that is not what its name says: a PDF named as a photo, a picture named as a PDF', () => {
    expect(pickRefusal('application/pdf', 'image/jpeg', SETTINGS)).toBe(
      'This file is not what its name says: it is named as a photo but is a PDF inside. Nothing was sent. Choose another file.',
    );
    expect(pickRefusal('image/png', 'application/pdf', SETTINGS)).toMatch(/named as a PDF but is a picture inside/);
  });

  it('refuses a type the practice does not take, naming it', () => {
    const photosOnly = { ...SETTINGS, acceptedTypes: ['image/jpeg' as const] };

    expect(pickRefusal('application/pdf', 'application/pdf', photosOnly)).toBe('Your practice does not accept PDF documents online. Nothing was sent.');
    expect(pickRefusal('image/webp', 'image/webp', photosOnly)).toBe('Your practice does not accept WebP pictures online. Nothing was sent.');
    expect(pickRefusal('image/png', 'image/png', { ...SETTINGS, acceptedTypes: ['image/png'] })).toMatch(/does not accept JPEG photos/);
  });
});

describe(sizeRefusal.name, () => {
  it("refuses a file over the practice's limit with both sizes in MB, and lets one at the limit go", () => {
    expect(sizeRefusal(10 * 1_048_576, SETTINGS)).toBeNull();
    expect(sizeRefusal(12_800_000, SETTINGS)).toBe(
      'This file is too large to send: it is 12 MB, and your practice accepts files up to 10 MB. Nothing was sent.',
    );
  });
});

describe(formatBytes.name, () => {
  it('says KB under a megabyte, one decimal under ten, whole megabytes above', () => {
    expect([formatBytes(300), formatBytes(420_000), formatBytes(1_300_000), formatBytes(26_214_400)]).toEqual(['1 KB', '410 KB', '1.2 MB', '25 MB']);
  });
});

describe(neutralName.name, () => {
  it('names a file by its kind and the day, never after the picked file', () => {
    const day = new Date(2026, 11, 5, 9, 30);

    expect(neutralName('image/jpeg', day)).toBe('photo-2026-12-05.jpg');
    expect(neutralName('application/pdf', day)).toBe('document-2026-12-05.pdf');
  });
});

describe(attachmentRefusalText.name, () => {
  it("words each size cap with the practice's limit", () => {
    const refusal = (limit: string) => attachmentRefusalText({ code: 'too_large', message: '', details: { limit, maxBytes: 52_428_800 } });

    expect(refusal('file')).toBe('Your file was not sent: it is larger than your practice accepts (50 MB).');
    expect(refusal('conversation')).toMatch(/this conversation already holds as much in files as your practice accepts \(50 MB\)/);
    expect(refusal('daily')).toMatch(/you have sent as much in files today as your practice accepts in a day \(50 MB\)\. Please try again tomorrow/);
  });

  it("words the practice's rules: only when asked, not at all, not this type", () => {
    expect(attachmentRefusalText({ code: 'forbidden', details: { reason: 'not_requested' } })).toMatch(/only when a clinician asks for one/);
    expect(attachmentRefusalText({ code: 'forbidden', details: { reason: 'not_accepted' } })).toMatch(/does not accept photos or documents online/);
    expect(attachmentRefusalText({ code: 'invalid_payload', details: { reason: 'type_not_accepted' } })).toMatch(/does not accept this type of file/);
  });

  it('says how long to wait after a flood of uploads', () => {
    expect(attachmentRefusalText({ code: 'rate_limited', details: { retryAfterSeconds: 40 } })).toBe(
      'Your file was not sent. Too many attempts. Please try again in 40 seconds.',
    );
  });
});
