import { Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import type { PracticeTerms } from '@parley/protocol';
import { mockOf } from '../../test/mocks.js';
import { aClinician, aManager, aPatient } from '../../test/factories.js';
import type { AuditService } from '../audit/audit.service.js';
import { FakeClock } from '../common/clock.js';
import { DomainError } from '../common/domain-error.js';
import type { ConsentRepository } from './consent.repository.js';
import { ConsentService } from './consent.service.js';

const NOW = new Date('2025-03-04T10:00:00.000Z');
const PUBLISHER = randomUUID();
const termsV = (version: number): PracticeTerms => ({ version, text: `Terms ${version}`, publishedAt: NOW.toISOString(), publishedBy: PUBLISHER });
const NOT_CONSENTED = new DomainError('forbidden', "Accept the practice's current terms first.");

describe(ConsentService.name, () => {
  beforeAll(() => Logger.overrideLogger(false));

  let consents: jest.Mocked<ConsentRepository>;
  let audit: jest.Mocked<AuditService>;
  let sut: ConsentService;

  beforeEach(() => {
    consents = mockOf<ConsentRepository>();
    audit = mockOf<AuditService>();
    sut = new ConsentService(consents, audit, new FakeClock(NOW));
    consents.currentVersion.mockResolvedValue(2);
  });

  describe('assertConsented', () => {
    it('refuses a patient who has not accepted the current version', async () => {
      consents.state.mockResolvedValue({ currentVersion: 2, hasConsented: false });

      await expect(sut.assertConsented(aPatient())).rejects.toEqual(NOT_CONSENTED);
    });

    it('lets through a patient who accepted the current version', async () => {
      const patient = aPatient();
      consents.state.mockResolvedValue({ currentVersion: 2, hasConsented: true });

      await expect(sut.assertConsented(patient)).resolves.toBeUndefined();
      expect(consents.state).toHaveBeenCalledWith(patient.userId, patient.practiceId);
    });

    it('asks no consent where the practice has published no terms', async () => {
      consents.currentVersion.mockResolvedValue(null);
      consents.state.mockResolvedValue({ currentVersion: null, hasConsented: false });

      await expect(sut.assertConsented(aPatient())).resolves.toBeUndefined();
    });

    it('remembers a consent to the current version, and asks again once newer terms are published here', async () => {
      const patient = aPatient();
      const manager = aManager({ practiceId: patient.practiceId });
      consents.state.mockResolvedValue({ currentVersion: 2, hasConsented: true });
      await sut.assertConsented(patient);
      await sut.assertConsented(patient);
      const asksBeforePublish = consents.state.mock.calls.length;
      consents.publish.mockResolvedValue({ version: 3, text: 'v3', publishedAt: NOW.toISOString(), publishedBy: manager.userId });
      consents.currentVersion.mockResolvedValue(3);
      consents.state.mockResolvedValue({ currentVersion: 3, hasConsented: false });
      await sut.publish(manager, { text: 'v3' });

      await expect(sut.assertConsented(patient)).rejects.toEqual(NOT_CONSENTED);
      expect(asksBeforePublish).toBe(1);
    });

    it('asks no consent of staff', async () => {
      await expect(sut.assertConsented(aClinician())).resolves.toBeUndefined();
      expect(consents.state).not.toHaveBeenCalled();
    });
  });

  it('lets only managers publish, and audits the new version', async () => {
    const manager = aManager();
    consents.publish.mockResolvedValue(termsV(3));

    for (const actor of [aPatient(), aClinician()]) await expect(sut.publish(actor, { text: 'x' })).rejects.toEqual(new DomainError('forbidden'));
    const published = await sut.publish(manager, { text: 'Our terms' });

    expect(consents.publish).toHaveBeenCalledTimes(1);
    expect(consents.publish).toHaveBeenCalledWith({ practiceId: manager.practiceId, text: 'Our terms', publishedBy: manager.userId, publishedAt: NOW });
    expect(published.version).toBe(3);
    expect(audit.record).toHaveBeenCalledWith(manager, 'terms.published', { data: { version: 3 } });
  });

  describe('accept', () => {
    it('records a patient’s consent to the current version and audits it once', async () => {
      const patient = aPatient();
      consents.accept.mockResolvedValueOnce({ status: 'accepted', consent: { version: 2, givenAt: NOW.toISOString() } });
      consents.accept.mockResolvedValueOnce({ status: 'already_given', consent: { version: 2, givenAt: NOW.toISOString() } });

      const first = await sut.accept(patient, { version: 2 });
      const again = await sut.accept(patient, { version: 2 });

      expect(consents.accept).toHaveBeenCalledWith({ patientId: patient.userId, practiceId: patient.practiceId, version: 2, givenAt: NOW });
      expect(again).toEqual(first);
      expect(audit.record).toHaveBeenCalledTimes(1);
      expect(audit.record).toHaveBeenCalledWith(patient, 'consent.given', { subjectUserId: patient.userId, data: { version: 2 } });
    });

    it('refuses a version that is not the current one as a conflict', async () => {
      consents.accept.mockResolvedValue({ status: 'not_current' });
      consents.currentTerms.mockResolvedValue(termsV(2));

      await expect(sut.accept(aPatient(), { version: 1 })).rejects.toMatchObject({ code: 'conflict' });
      expect(audit.record).not.toHaveBeenCalled();
    });

    it('answers not_found where there are no terms to accept', async () => {
      consents.accept.mockResolvedValue({ status: 'not_current' });
      consents.currentTerms.mockResolvedValue(null);

      await expect(sut.accept(aPatient(), { version: 1 })).rejects.toMatchObject({ code: 'not_found' });
    });

    it('refuses staff', async () => {
      await expect(sut.accept(aManager(), { version: 1 })).rejects.toEqual(new DomainError('forbidden'));
      expect(consents.accept).not.toHaveBeenCalled();
    });
  });

  describe('status', () => {
    it('tells a patient who accepted an older version that they must accept the current one', async () => {
      consents.currentTerms.mockResolvedValue(termsV(2));
      consents.latestConsent.mockResolvedValue({ version: 1, givenAt: NOW.toISOString() });

      expect(await sut.status(aPatient())).toEqual({ terms: termsV(2), consent: { version: 1, givenAt: NOW.toISOString() }, needsConsent: true });
    });

    it('shows staff the terms with no consent to give', async () => {
      consents.currentTerms.mockResolvedValue(termsV(1));

      expect(await sut.status(aClinician())).toEqual({ terms: termsV(1), consent: null, needsConsent: false });
      expect(consents.latestConsent).not.toHaveBeenCalled();
    });

    it('needs no consent where there are no terms', async () => {
      consents.currentTerms.mockResolvedValue(null);
      consents.latestConsent.mockResolvedValue(null);

      expect(await sut.status(aPatient())).toEqual({ terms: null, consent: null, needsConsent: false });
    });
  });
});
