import { randomUUID } from 'node:crypto';
import { MAX_CANNED_REPLIES } from '@parley/protocol';
import { aClinician, aManager, aPatient } from '../../test/factories.js';
import { mockOf } from '../../test/mocks.js';
import type { AuditService } from '../audit/audit.service.js';
import { FakeClock } from '../common/clock.js';
import { DomainError } from '../common/domain-error.js';
import type { CannedRepliesRepository } from './canned-replies.repository.js';
import { CannedRepliesService } from './canned-replies.service.js';

const NOW = new Date('2025-03-04T10:00:00.000Z');
const BODY = { title: 'Prescription ready', text: 'Ready to collect.' };

describe(CannedRepliesService.name, () => {
  let replies: jest.Mocked<CannedRepliesRepository>;
  let audit: jest.Mocked<AuditService>;
  let sut: CannedRepliesService;

  beforeEach(() => {
    replies = mockOf<CannedRepliesRepository>();
    audit = mockOf<AuditService>();
    sut = new CannedRepliesService(replies, audit, new FakeClock(NOW));
  });

  it('lets staff read and only managers write', async () => {
    replies.list.mockResolvedValue([]);

    await expect(sut.list(aClinician())).resolves.toEqual([]);
    await expect(sut.list(aPatient())).rejects.toEqual(new DomainError('forbidden'));
    for (const actor of [aPatient(), aClinician()]) {
      await expect(sut.create(actor, BODY)).rejects.toEqual(new DomainError('forbidden'));
      await expect(sut.update(actor, randomUUID(), BODY)).rejects.toEqual(new DomainError('forbidden'));
      await expect(sut.delete(actor, randomUUID())).rejects.toEqual(new DomainError('forbidden'));
    }
    expect(replies.create).not.toHaveBeenCalled();
    expect(audit.record).not.toHaveBeenCalled();
  });

  it('creates within the limit in the manager’s practice, timed by the clock, and audits the id', async () => {
    const manager = aManager();
    const stored = { id: randomUUID(), ...BODY, createdAt: NOW.toISOString(), updatedAt: NOW.toISOString(), updatedBy: manager.userId };
    replies.create.mockResolvedValueOnce(stored).mockResolvedValueOnce(null);

    await expect(sut.create(manager, BODY)).resolves.toBe(stored);
    await expect(sut.create(manager, BODY)).rejects.toMatchObject({ code: 'conflict' });
    expect(replies.create).toHaveBeenCalledWith(
      expect.objectContaining({ practiceId: manager.practiceId, by: manager.userId, at: NOW, ...BODY }),
      MAX_CANNED_REPLIES,
    );
    expect(audit.record).toHaveBeenCalledTimes(1);
    expect(audit.record).toHaveBeenCalledWith(manager, 'canned-reply.created', { data: { cannedReplyId: stored.id } });
  });

  it('answers not_found for a reply the practice does not have, auditing nothing', async () => {
    replies.update.mockResolvedValue(null);
    replies.delete.mockResolvedValue(false);

    await expect(sut.update(aManager(), randomUUID(), BODY)).rejects.toEqual(new DomainError('not_found'));
    await expect(sut.delete(aManager(), randomUUID())).rejects.toEqual(new DomainError('not_found'));
    expect(audit.record).not.toHaveBeenCalled();
  });
});
