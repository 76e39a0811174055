import { Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import type { TopicCategory } from '@parley/protocol';
import { mockOf } from '../../test/mocks.js';
import { aClinician, aManager, aPatient } from '../../test/factories.js';
import type { AuditService } from '../audit/audit.service.js';
import { FakeClock } from '../common/clock.js';
import { DomainError } from '../common/domain-error.js';
import { DEFAULT_PATIENT_LIMITS, type PracticeSettingsRepository, type StoredTexts } from './practice-settings.repository.js';
import { DEFAULT_ACKNOWLEDGEMENT, DEFAULT_CATEGORIES, PracticeSettingsService } from './practice-settings.service.js';

const NOW = new Date('2025-03-04T10:00:00.000Z');
const TEXTS: StoredTexts = { practiceName: 'Riverside Surgery', practicePhone: '01632 960001', acknowledgementTemplate: null };
const CATEGORIES: TopicCategory[] = [
  { slug: 'appointment', label: 'Appointments', isEnabled: true },
  { slug: 'test-results', label: 'Results', isEnabled: false },
];

describe(PracticeSettingsService.name, () => {
  beforeAll(() => Logger.overrideLogger(false));

  let settings: jest.Mocked<PracticeSettingsRepository>;
  let audit: jest.Mocked<AuditService>;
  let sut: PracticeSettingsService;
  const practiceId = randomUUID();

  beforeEach(() => {
    settings = mockOf<PracticeSettingsRepository>();
    audit = mockOf<AuditService>();
    sut = new PracticeSettingsService(settings, audit, new FakeClock(NOW));
    settings.texts.mockResolvedValue(TEXTS);
    settings.categories.mockResolvedValue([]);
    settings.patientLimits.mockResolvedValue({ ...DEFAULT_PATIENT_LIMITS });
  });

  describe('assertTopicEnabled', () => {
    it('takes every default topic where the practice has set no categories', async () => {
      for (const { slug } of DEFAULT_CATEGORIES) await expect(sut.assertTopicEnabled(practiceId, slug)).resolves.toBeUndefined();

      expect(DEFAULT_CATEGORIES.map((category) => category.slug)).toEqual(['appointment', 'repeat-prescription', 'test-results', 'admin', 'other']);
      expect(settings.categories).toHaveBeenCalledWith(practiceId);
    });

    it('refuses a disabled or unknown topic as invalid_payload', async () => {
      settings.categories.mockResolvedValue(CATEGORIES);

      await expect(sut.assertTopicEnabled(practiceId, 'appointment')).resolves.toBeUndefined();
      await expect(sut.assertTopicEnabled(practiceId, 'test-results')).rejects.toMatchObject({ code: 'invalid_payload' });
      await expect(sut.assertTopicEnabled(practiceId, 'other')).rejects.toMatchObject({ code: 'invalid_payload' });
    });
  });

  describe('acknowledgementFor', () => {
    it('fills the default text with the reply time and the practice’s phone number', async () => {
      const text = await sut.acknowledgementFor(practiceId, { replyTimeText: 'about 20 minutes' });

      expect(text).toBe(
        'Thank you, your message has been received. Typical reply time: about 20 minutes. ' +
          "This service is not for emergencies: call 999 if someone's life is at risk, or 111 for urgent advice, or phone the practice on 01632 960001.",
      );
    });

    it('uses the practice’s own template, and words around a missing phone number', async () => {
      settings.texts.mockResolvedValue({
        ...TEXTS,
        practicePhone: null,
        acknowledgementTemplate: '{practiceName} got it. Reply {replyTime}. Urgent? 999, 111 or {practicePhone}.',
      });

      const text = await sut.acknowledgementFor(practiceId, { replyTimeText: 'by 9:00 tomorrow' });

      expect(text).toBe('Riverside Surgery got it. Reply by 9:00 tomorrow. Urgent? 999, 111 or its usual number.');
    });

    it('fills placeholders once, so a value containing a placeholder is left as it is', async () => {
      const text = await sut.acknowledgementFor(practiceId, { replyTimeText: '{practicePhone}' });

      expect(text).toContain('Typical reply time: {practicePhone}.');
    });

    it('answers not_found for an unknown practice', async () => {
      settings.texts.mockResolvedValue(null);

      await expect(sut.acknowledgementFor(practiceId, { replyTimeText: 'soon' })).rejects.toEqual(new DomainError('not_found'));
    });
  });

  it('shows the defaults to anyone of the practice until a manager sets others', async () => {
    expect(await sut.settingsFor(aPatient({ practiceId }))).toEqual({
      categories: DEFAULT_CATEGORIES,
      practicePhone: '01632 960001',
      acknowledgementTemplate: DEFAULT_ACKNOWLEDGEMENT,
      isDefaultAcknowledgement: true,
      patientLimits: { maxOpenPerPatient: 1, maxNewPerPatientPerDay: 3 },
    });
  });

  it('lets only managers change categories, texts and patient limits', async () => {
    for (const actor of [aPatient(), aClinician()]) {
      await expect(sut.updateCategories(actor, { categories: CATEGORIES })).rejects.toEqual(new DomainError('forbidden'));
      await expect(sut.updateTexts(actor, { practicePhone: null })).rejects.toEqual(new DomainError('forbidden'));
      await expect(sut.updatePatientLimits(actor, { maxOpenPerPatient: null, maxNewPerPatientPerDay: null })).rejects.toEqual(new DomainError('forbidden'));
    }

    expect(settings.replaceCategories).not.toHaveBeenCalled();
    expect(settings.updateTexts).not.toHaveBeenCalled();
    expect(settings.updatePatientLimits).not.toHaveBeenCalled();
    expect(audit.record).not.toHaveBeenCalled();
  });

  it('replaces the categories and audits their slugs, never their labels', async () => {
    const manager = aManager();

    await sut.updateCategories(manager, { categories: CATEGORIES });

    expect(settings.replaceCategories).toHaveBeenCalledWith(manager.practiceId, CATEGORIES);
    expect(audit.record).toHaveBeenCalledWith(manager, 'categories.changed', { data: { enabled: ['appointment'], disabled: ['test-results'] } });
    expect(JSON.stringify(audit.record.mock.calls)).not.toContain('Results');
  });

  it('changes the texts and audits which fields changed, never the texts', async () => {
    const manager = aManager();
    const template = 'Got it. Reply {replyTime}. Urgent: 999 or 111.';

    await sut.updateTexts(manager, { practicePhone: null, acknowledgementTemplate: template });

    expect(settings.updateTexts).toHaveBeenCalledWith(manager.practiceId, { practicePhone: null, acknowledgementTemplate: template }, manager.userId, NOW);
    expect(audit.record).toHaveBeenCalledWith(manager, 'texts.changed', {
      data: { changed: ['practicePhone', 'acknowledgementTemplate'], cleared: ['practicePhone'] },
    });
  });
});
