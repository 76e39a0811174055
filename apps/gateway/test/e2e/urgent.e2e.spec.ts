import type { ParleyClient } from '@parley/client';
import { ready } from '@parley/crypto';
import type { QueueSnapshot } from '@parley/protocol';
import { startTestApp, type TestApp } from '../app.js';
import { openByNewPatient, type Chatter } from '../chat.js';
import { assigneeOf, connectAs, createPracticeWithStaff, type TestPractice } from '../factories.js';
import { waitUntil } from '../wait.js';

describe('a conversation the patient’s device marks urgent (conversation:urgent, in-process gateway)', () => {
  let gateway: TestApp;
  let practice: TestPractice;
  let manager: ParleyClient;
  const snapshots: QueueSnapshot[] = [];
  const open: { close(): void }[] = [];

  const openFor = () => openByNewPatient(gateway.url, practice, open);
  const systemEvents = (chat: Chatter) => chat.entries.flatMap((entry) => (entry.ok && entry.value.kind === 'system' ? [entry.value.event] : []));
  const audited = async (conversationId: string) =>
    (
      await gateway.dataSource.query(`SELECT count(*)::int AS n FROM audit_events WHERE action = 'conversation.marked_urgent' AND conversation_id = $1`, [
        conversationId,
      ])
    )[0].n as number;

  beforeAll(async () => {
    await ready();
    gateway = await startTestApp();
    practice = await createPracticeWithStaff(gateway);
    manager = await connectAs(gateway.url, practice.manager, 10_000);
    manager.on('queue:updated', (snapshot) => snapshots.push(snapshot));
    open.push(manager);
  });

  afterAll(async () => {
    for (const each of open) each.close();
    await gateway.close();
  });

  it('puts the marked conversation at the head of the queue for every clinician, records and audits it once, and routes it first', async () => {
    // Nobody is connected and available, so all three wait, oldest first.
    const first = await openFor();
    const second = await openFor();
    const third = await openFor();

    const marked = await third.chat.session.client.request('conversation:urgent', { conversationId: third.id });
    const again = await third.chat.session.client.request('conversation:urgent', { conversationId: third.id });
    await waitUntil(() => snapshots.at(-1)?.waiting[0]?.conversationId === third.id, 'a queue:updated with the urgent one first');
    const listed = await manager.request('queue:list', {});
    await waitUntil(() => systemEvents(third.chat).includes('marked_urgent'), 'the record entry to reach the patient');

    expect(marked).toMatchObject({ ok: true, data: { conversation: { id: third.id, urgentAt: expect.any(String) } } });
    expect(again.ok && again.data.conversation.urgentAt).toBe(marked.ok && marked.data.conversation.urgentAt);
    expect(listed.ok && listed.data.waiting.map((w) => [w.conversationId, w.urgentAt !== null])).toEqual([
      [third.id, true],
      [first.id, false],
      [second.id, false],
    ]);
    expect(systemEvents(third.chat).filter((event) => event === 'marked_urgent')).toHaveLength(1);
    expect(await audited(third.id)).toBe(1);
    const mine = await third.chat.session.client.request('conversation:list', {});
    expect(mine.ok && mine.data.conversations.find((c) => c.id === third.id)?.urgentAt).toBe(marked.ok && marked.data.conversation.urgentAt);

    // A clinician with room for one comes online: the urgent conversation is theirs, not the oldest.
    await manager.request('capacity:set-clinician', { clinicianId: practice.clinician.userId, maxConcurrent: 1, dailyMax: null });
    const clinician = await connectAs(gateway.url, practice.clinician, 10_000);
    open.push(clinician);
    await clinician.request('staff:availability', { availability: 'available' });
    await waitUntil(async () => (await assigneeOf(gateway.dataSource, third.id)) === practice.clinician.userId, 'the urgent conversation to be assigned');

    expect(await assigneeOf(gateway.dataSource, first.id)).toBeNull();
  });

  it('refuses staff, another patient, and a closed conversation, changing nothing', async () => {
    const { chat, id } = await openFor();
    const other = await openFor();
    const clinician = await connectAs(gateway.url, practice.clinician, 10_000);
    open.push(clinician);
    await manager.request('conversation:close', { conversationId: other.id, outcome: 'resolved' });

    const answers = [
      await clinician.request('conversation:urgent', { conversationId: id }),
      await manager.request('conversation:urgent', { conversationId: id }),
      await other.chat.session.client.request('conversation:urgent', { conversationId: id }),
      await other.chat.session.client.request('conversation:urgent', { conversationId: other.id }),
      await chat.session.client.request('conversation:urgent', { conversationId: 'not-a-uuid' } as never),
    ];

    expect(answers.map((answer) => (answer.ok ? 'ok' : answer.error.code))).toEqual(['forbidden', 'forbidden', 'not_found', 'not_found', 'invalid_payload']);
    expect(
      await gateway.dataSource.query(`SELECT count(*)::int AS n FROM conversations WHERE id = ANY($1::uuid[]) AND urgent_at IS NOT NULL`, [[id, other.id]]),
    ).toEqual([{ n: 0 }]);
    expect((await audited(id)) + (await audited(other.id))).toBe(0);
  });
});
