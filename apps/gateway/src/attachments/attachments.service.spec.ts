import { Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { DEFAULT_ATTACHMENT_SETTINGS } from '@parley/protocol';
import { mockOf } from '../../test/mocks.js';
import { aClinician, aManager, aPatient } from '../../test/factories.js';
import type { AuditService } from '../audit/audit.service.js';
import { FakeClock } from '../common/clock.js';
import { DomainError } from '../common/domain-error.js';
import type { AppConfig } from '../config.js';
import type { ConversationAccess, ConversationAccessCache } from '../invalidation/conversation-access.cache.js';
import type { PracticeSettingsService } from '../practices/practice-settings.service.js';
import type { RateLimitService } from '../rate-limits/rate-limit.service.js';
import type { RecordService } from '../record/record.service.js';
import type { AttachmentStore } from './attachment-store.js';
import type { AttachmentsRepository, Upload } from './attachments.repository.js';
import { AttachmentsService } from './attachments.service.js';

const NOW = new Date('2026-12-05T10:00:00.000Z');
const PART = 65_553;

describe(AttachmentsService.name, () => {
  beforeAll(() => Logger.overrideLogger(false));

  const patient = aPatient();
  const conversation: ConversationAccess = {
    id: randomUUID(),
    practiceId: patient.practiceId,
    patientId: patient.userId,
    assignedClinicianId: randomUUID(),
    status: 'assigned',
  };
  const anUpload = (overrides: Partial<Upload> = {}): Upload => ({
    id: randomUUID(),
    practiceId: patient.practiceId,
    conversationId: conversation.id,
    uploaderUserId: patient.userId,
    uploaderDeviceId: patient.deviceId,
    contentType: 'image/jpeg',
    cipherBytes: 2 * PART + 100,
    chunkCount: 3,
    createdAt: NOW,
    completedAt: null,
    clientMessageId: null,
    isReferenced: false,
    ...overrides,
  });
  let uploads: jest.Mocked<AttachmentsRepository>;
  let store: jest.Mocked<AttachmentStore>;
  let settings: jest.Mocked<PracticeSettingsService>;
  let record: jest.Mocked<RecordService>;
  let sut: AttachmentsService;

  beforeEach(() => {
    uploads = mockOf<AttachmentsRepository>();
    store = mockOf<AttachmentStore>();
    settings = mockOf<PracticeSettingsService>();
    record = mockOf<RecordService>();
    const access = mockOf<ConversationAccessCache>();
    access.get.mockResolvedValue(conversation);
    settings.attachmentSettingsOf.mockResolvedValue({ ...DEFAULT_ATTACHMENT_SETTINGS, patientUploads: 'always' });
    const config = { attachmentUnreferencedTtlMs: 60_000 } as AppConfig;
    sut = new AttachmentsService(uploads, store, access, settings, mockOf<RateLimitService>(), record, mockOf<AuditService>(), new FakeClock(NOW), config);
  });

  describe('putPart', () => {
    it('takes whole chunks and a last part of the remainder, and nothing of another length', async () => {
      uploads.find.mockResolvedValue(anUpload());
      store.putPart.mockResolvedValue('stored');

      await sut.putPart(patient, randomUUID(), 0, Buffer.alloc(PART));
      await sut.putPart(patient, randomUUID(), 2, Buffer.alloc(100));
      const wrong = await Promise.all([
        sut.putPart(patient, randomUUID(), 1, Buffer.alloc(PART - 1)).catch((error: DomainError) => error.code),
        sut.putPart(patient, randomUUID(), 2, Buffer.alloc(PART)).catch((error: DomainError) => error.code),
        sut.putPart(patient, randomUUID(), 3, Buffer.alloc(100)).catch((error: DomainError) => error.code),
      ]);

      expect(wrong).toEqual(['invalid_payload', 'invalid_payload', 'invalid_payload']);
      expect(store.putPart).toHaveBeenCalledTimes(2);
    });

    it("answers another device's upload as unknown, and stores nothing", async () => {
      uploads.find.mockResolvedValue(anUpload({ uploaderDeviceId: randomUUID() }));

      await expect(sut.putPart(patient, randomUUID(), 0, Buffer.alloc(PART))).rejects.toEqual(new DomainError('not_found', 'No such upload.'));
      expect(store.putPart).not.toHaveBeenCalled();
    });
  });

  describe('claim', () => {
    const message = { conversationId: conversation.id, clientMessageId: randomUUID(), attachmentIds: [randomUUID(), randomUUID()] };
    const found = (overrides: { isOwn?: boolean; isComplete?: boolean; claimedBy?: string | null }[]) =>
      overrides.map((override, index) => ({ id: message.attachmentIds[index]!, isOwn: true, isComplete: true, claimedBy: null, ...override }));

    it('passes when every upload is its own and complete, unclaimed or claimed by this same message', async () => {
      uploads.claim.mockResolvedValue(found([{}, { claimedBy: message.clientMessageId }]));

      await expect(sut.claim(patient, message)).resolves.toBeUndefined();
    });

    it.each([
      ['an id it did not find', found([{}]), 'not_found'],
      ["another device's or conversation's upload", found([{}, { isOwn: false }]), 'not_found'],
      ['an upload not complete', found([{}, { isComplete: false }]), 'conflict'],
      ["another message's upload", found([{ claimedBy: randomUUID() }, {}]), 'conflict'],
    ])('refuses %s', async (_what, rows, code) => {
      uploads.claim.mockResolvedValue(rows);

      await expect(sut.claim(patient, message)).rejects.toMatchObject({ code });
    });
  });

  describe('requestAttachment', () => {
    it('lets the assignee or a manager ask, never a patient or another clinician', async () => {
      record.append.mockResolvedValue({ status: 'stored', seq: 7, createdAt: NOW, hash: Buffer.alloc(32), patientId: conversation.patientId });
      const assignee = aClinician({ userId: conversation.assignedClinicianId!, practiceId: conversation.practiceId });

      const answers = await Promise.all(
        [assignee, aManager({ practiceId: conversation.practiceId }), aClinician({ practiceId: conversation.practiceId }), patient].map((actor) =>
          sut.requestAttachment(actor, { conversationId: conversation.id, kind: 'photo' }).catch((error: DomainError) => error.code),
        ),
      );

      expect(answers).toEqual([{ seq: 7 }, { seq: 7 }, 'forbidden', 'forbidden']);
      expect(record.append).toHaveBeenCalledWith({
        conversationId: conversation.id,
        system: { event: 'attachment.requested', data: { kind: 'photo', clinicianId: assignee.userId } },
      });
    });
  });

  describe('create', () => {
    it('refuses a file over the cap as too_large with the plaintext limit, before counting or storing it', async () => {
      settings.attachmentSettingsOf.mockResolvedValue({ ...DEFAULT_ATTACHMENT_SETTINGS, patientUploads: 'always', maxFileBytes: 65_536 });

      const refused = sut.create(patient, { conversationId: conversation.id, contentType: 'image/png', cipherBytes: 65_537 + 2 * 17 });

      await expect(refused).rejects.toMatchObject({ code: 'too_large', details: { limit: 'file', maxBytes: 65_536 } });
      expect(uploads.createWithinCaps).not.toHaveBeenCalled();
    });
  });
});
