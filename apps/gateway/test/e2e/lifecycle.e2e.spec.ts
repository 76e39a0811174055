import { randomUUID } from 'node:crypto';
import type { ParleyClient } from '@parley/client';
import { ready } from '@parley/crypto';
import type { CodeIssued, ConversationAssigned } from '@parley/protocol';
import { startTestApp, type TestApp } from '../app.js';
import { follow, patientChat, type Chatter } from '../chat.js';
import {
  activatePatient,
  activateStaff,
  apiOk,
  connectAs,
  createPracticeWithManager,
  createPracticeWithStaff,
  type TestPractice,
  type TestStaff,
} from '../factories.js';
import { waitUntil } from '../wait.js';

interface Clinician {
  staff: TestStaff;
  client: ParleyClient;
  assigned: ConversationAssigned[];
}

interface Opened {
  chat: Chatter;
  id: string;
}

const codeOf = (answer: { ok: boolean; error?: { code: string } }) => (answer.ok ? 'ok' : answer.error!.code);

describe('conversation lifecycle: transfer, hold, close with an outcome, follow-ups', () => {
  let node: TestApp;
  let practice: TestPractice;
  let manager: ParleyClient;
  let x: Clinician;
  let y: Clinician;
  const clients: ParleyClient[] = [];
  const chats: Chatter[] = [];
  const conversations: Record<string, Opened> = {};

  /** A clinician of the practice, connected and available, with the given concurrent cap. */
  async function aClinician(maxConcurrent: number): Promise<Clinician> {
    const email = `clinician.${randomUUID().slice(0, 8)}@test.parley`;
    const issued = await apiOk<CodeIssued>(
      node.url,
      'POST',
      '/api/staff',
      { token: practice.manager.token, body: { displayName: 'Dr Test', email, roles: ['clinician'] } },
      201,
    );
    const staff = await activateStaff(node.url, practice.odsCode, issued.code, { userId: issued.userId, email, roles: ['clinician'] });
    const client = await connectAs(node.url, staff, 10_000);
    clients.push(client);
    const assigned: ConversationAssigned[] = [];
    client.on('conversation:assigned', (fact) => assigned.push(fact));
    await setCap(staff.userId, maxConcurrent);
    expect(await client.request('staff:availability', { availability: 'available' })).toEqual({ ok: true, data: null });
    return { staff, client, assigned };
  }

  async function setCap(clinicianId: string, maxConcurrent: number): Promise<void> {
    expect(await manager.request('capacity:set-clinician', { clinicianId, maxConcurrent, dailyMax: null })).toEqual({ ok: true, data: null });
  }

  /** A new patient opens a conversation and follows it (their feed collects every entry). */
  async function open(name: string): Promise<Opened> {
    const chat = await patientChat(node.url, practice, await activatePatient(node.url, practice));
    chats.push(chat);
    const summary = await chat.session.openConversation('admin');
    await follow(chat, summary.id);
    conversations[name] = { chat, id: summary.id };
    return conversations[name]!;
  }

  const row = async (id: string) =>
    (await node.dataSource.query(`SELECT status, assigned_clinician_id, outcome, closed_at, queued_at FROM conversations WHERE id = $1`, [id]))[0] as {
      status: string;
      assigned_clinician_id: string | null;
      outcome: string | null;
      closed_at: Date | null;
      queued_at: Date;
    };
  const assignmentsOf = async (id: string) =>
    (await node.dataSource.query(`SELECT clinician_id, how, ended_at FROM assignments WHERE conversation_id = $1 ORDER BY assigned_at, ended_at NULLS LAST`, [
      id,
    ])) as {
      clinician_id: string;
      how: string;
      ended_at: Date | null;
    }[];
  const assignedTo = async (id: string) => {
    await waitUntil(async () => (await row(id)).status === 'assigned', `${id} to be assigned`);
    return (await row(id)).assigned_clinician_id!;
  };
  const systemEvents = (chat: Chatter) =>
    chat.entries.flatMap((entry) => (entry.ok && entry.value.kind === 'system' ? [{ event: entry.value.event, data: entry.value.data }] : []));
  const waitForEvent = (chat: Chatter, event: string) => waitUntil(() => systemEvents(chat).some((e) => e.event === event), `the patient to see '${event}'`);
  const clinicianBy = (userId: string) => [x, y].find((c) => c.staff.userId === userId)!;
  const other = (c: Clinician) => (c === x ? y : x);
  const auditCount = async (action: string, conversationId: string) =>
    (await node.dataSource.query(`SELECT count(*)::int AS n FROM audit_events WHERE action = $1 AND conversation_id = $2`, [action, conversationId]))[0]
      .n as number;

  beforeAll(async () => {
    await ready();
    node = await startTestApp();
    practice = await createPracticeWithStaff(node);
    manager = await connectAs(node.url, practice.manager, 10_000);
    clients.push(manager);
    x = await aClinician(1);
    y = await aClinician(1);
  });

  afterAll(async () => {
    for (const chat of chats) await chat.session.close();
    for (const client of clients) client.close();
    await node.close();
  });

  it('transfers to a colleague under cap, telling the colleague and the patient, and ends the old assignment', async () => {
    const p1 = await open('p1');
    const from = clinicianBy(await assignedTo(p1.id));
    const to = other(from);

    const answer = await from.client.request('conversation:transfer', { conversationId: p1.id, to: { clinicianId: to.staff.userId } });
    await waitForEvent(p1.chat, 'transferred');

    expect(answer).toMatchObject({ ok: true, data: { conversation: { id: p1.id, status: 'assigned', assignedClinicianId: to.staff.userId } } });
    expect(await row(p1.id)).toMatchObject({ status: 'assigned', assigned_clinician_id: to.staff.userId });
    expect(await assignmentsOf(p1.id)).toEqual([
      { clinician_id: from.staff.userId, how: 'auto', ended_at: expect.any(Date) },
      { clinician_id: to.staff.userId, how: 'transfer', ended_at: null },
    ]);
    await waitUntil(() => to.assigned.some((fact) => fact.conversationId === p1.id && fact.how === 'transfer'), 'the colleague to be told');
    expect(systemEvents(p1.chat).find((e) => e.event === 'transferred')!.data).toEqual({ fromClinicianId: from.staff.userId, clinicianId: to.staff.userId });
    expect(await auditCount('conversation.transferred', p1.id)).toBe(1);
  });

  it('refuses a transfer to a colleague at cap with at_capacity, changing nothing', async () => {
    const p2 = await open('p2');
    // Routing runs after the open is acknowledged: let its record entry arrive before taking the "before" picture.
    await waitForEvent(p2.chat, 'assigned');
    const holder = clinicianBy(await assignedTo(p2.id));
    const full = other(holder);
    const before = { row: await row(p2.id), assignments: await assignmentsOf(p2.id), entries: p2.chat.entries.length };

    const answer = await holder.client.request('conversation:transfer', { conversationId: p2.id, to: { clinicianId: full.staff.userId } });
    const notAClinician = await holder.client.request('conversation:transfer', { conversationId: p2.id, to: { clinicianId: practice.manager.userId } });

    expect(codeOf(answer)).toBe('at_capacity');
    expect(codeOf(notAClinician)).toBe('not_found');
    expect(await row(p2.id)).toEqual(before.row);
    expect(await assignmentsOf(p2.id)).toEqual(before.assignments);
    expect(p2.chat.entries.length).toBe(before.entries);
  });

  it('holds and resumes, only by the assignee; a hold still counts against the cap', async () => {
    const p1 = conversations['p1']!;
    const assignee = clinicianBy((await row(p1.id)).assigned_clinician_id!);

    const byColleague = await other(assignee).client.request('conversation:hold', { conversationId: p1.id, isOnHold: true });
    const byPatient = await p1.chat.session.client.request('conversation:hold', { conversationId: p1.id, isOnHold: true });
    const held = await assignee.client.request('conversation:hold', { conversationId: p1.id, isOnHold: true });
    await waitForEvent(p1.chat, 'held');
    const queue = await manager.request('queue:list', {});
    const resumed = await assignee.client.request('conversation:hold', { conversationId: p1.id, isOnHold: false });
    await waitForEvent(p1.chat, 'resumed');

    expect([codeOf(byColleague), codeOf(byPatient)]).toEqual(['forbidden', 'forbidden']);
    expect(held).toMatchObject({ ok: true, data: { conversation: { status: 'on_hold', assignedClinicianId: assignee.staff.userId } } });
    expect(queue.ok && queue.data.clinicians.find((c) => c.clinicianId === assignee.staff.userId)!.active).toBe(1);
    expect(resumed).toMatchObject({ ok: true, data: { conversation: { status: 'assigned' } } });
    expect(await auditCount('conversation.held', p1.id)).toBe(2);
  });

  it('puts a conversation back at the head of the queue, and assigns it first when someone is free', async () => {
    const p1 = conversations['p1']!;
    const assignee = clinicianBy((await row(p1.id)).assigned_clinician_id!);
    const p3 = await open('p3'); // everyone is at cap: it waits
    await setCap(assignee.staff.userId, 0); // so that nobody is free when p1 goes back

    const answer = await assignee.client.request('conversation:transfer', { conversationId: p1.id, to: 'queue' });
    await waitForEvent(p1.chat, 'requeued');
    const queue = await manager.request('queue:list', {});
    await setCap(assignee.staff.userId, 1);

    expect(answer).toMatchObject({ ok: true, data: { conversation: { status: 'waiting', assignedClinicianId: null } } });
    expect(queue.ok && queue.data.waiting.map((w) => w.conversationId)).toEqual([p1.id, p3.id]);
    expect(await row(p1.id)).toMatchObject({ status: 'assigned', assigned_clinician_id: assignee.staff.userId });
    expect((await row(p3.id)).status).toBe('waiting');
    expect(await auditCount('conversation.requeued', p1.id)).toBe(1);
  });

  it('closes, frees the slot for the next waiting conversation at once, and refuses later sends', async () => {
    const p2 = conversations['p2']!;
    const p3 = conversations['p3']!;
    const assignee = clinicianBy((await row(p2.id)).assigned_clinician_id!);

    const closed = await assignee.client.request('conversation:close', { conversationId: p2.id, outcome: 'resolved' });
    const p3Now = await row(p3.id);
    await waitForEvent(p2.chat, 'closed');
    const send = await p2.chat.session.conversation(p2.id).send('one more thing');
    const again = await assignee.client.request('conversation:close', { conversationId: p2.id, outcome: 'resolved' });

    expect(closed).toMatchObject({ ok: true, data: { conversation: { status: 'closed', assignedClinicianId: null } } });
    expect(await row(p2.id)).toMatchObject({ status: 'closed', outcome: 'resolved', closed_at: expect.any(Date) });
    expect((await assignmentsOf(p2.id)).every((a) => a.ended_at !== null)).toBe(true);
    expect(p3Now).toMatchObject({ status: 'assigned', assigned_clinician_id: assignee.staff.userId });
    expect(systemEvents(p2.chat).find((e) => e.event === 'closed')!.data).toEqual({ outcome: 'resolved' });
    expect(send).toMatchObject({ ok: false, error: { code: 'conflict' } });
    expect(codeOf(again)).toBe('conflict');
    expect(await auditCount('conversation.closed', p2.id)).toBe(1);
  });

  it('requires a follow-up exactly with the follow_up outcome, lists it until its owner marks it done', async () => {
    const p1 = conversations['p1']!;
    const assignee = clinicianBy((await row(p1.id)).assigned_clinician_id!);
    const owner = other(assignee);
    const dueDate = '2031-05-04';

    const missing = await assignee.client.request('conversation:close', { conversationId: p1.id, outcome: 'follow_up' });
    const extra = await assignee.client.request('conversation:close', {
      conversationId: p1.id,
      outcome: 'resolved',
      followUp: { dueDate, ownerId: owner.staff.userId },
    });
    const badOwner = await assignee.client.request('conversation:close', {
      conversationId: p1.id,
      outcome: 'follow_up',
      followUp: { dueDate, ownerId: practice.manager.userId },
    });
    const closed = await assignee.client.request('conversation:close', {
      conversationId: p1.id,
      outcome: 'follow_up',
      followUp: { dueDate, ownerId: owner.staff.userId },
    });
    const listed = await owner.client.request('follow-up:list', {});
    const followUp = listed.ok ? listed.data.followUps.find((f) => f.conversationId === p1.id)! : undefined;
    const byOther = await assignee.client.request('follow-up:done', { followUpId: followUp!.id });
    const byPatient = await p1.chat.session.client.request('follow-up:list', {});
    const done = await owner.client.request('follow-up:done', { followUpId: followUp!.id });
    const listedAfter = await manager.request('follow-up:list', {});

    expect([codeOf(missing), codeOf(extra), codeOf(badOwner)]).toEqual(['invalid_payload', 'invalid_payload', 'not_found']);
    expect(closed).toMatchObject({ ok: true, data: { conversation: { status: 'closed' } } });
    expect(followUp).toMatchObject({ ownerId: owner.staff.userId, dueDate, createdBy: assignee.staff.userId, patientId: expect.any(String), doneAt: null });
    expect([codeOf(byOther), codeOf(byPatient)]).toEqual(['forbidden', 'forbidden']);
    expect(done).toMatchObject({ ok: true, data: { followUp: { id: followUp!.id, doneBy: owner.staff.userId, doneAt: expect.any(String) } } });
    expect(listedAfter.ok && listedAfter.data.followUps.map((f) => f.id)).not.toContain(followUp!.id);
    expect(await row(p1.id)).toMatchObject({ status: 'closed', outcome: 'follow_up' });
    expect(await auditCount('follow-up.completed', p1.id)).toBe(1);
  });

  it('closes with the other outcomes, a manager any conversation of the practice, a waiting one too', async () => {
    const p3 = conversations['p3']!;
    const p4 = await open('p4');
    await waitUntil(async () => (await row(p4.id)).status === 'assigned', 'p4 to be assigned');
    await setCap(x.staff.userId, 0);
    await setCap(y.staff.userId, 0);
    const p5 = await open('p5'); // nobody has room: it waits

    const answers = [
      await clinicianBy((await row(p3.id)).assigned_clinician_id!).client.request('conversation:close', {
        conversationId: p3.id,
        outcome: 'redirected_urgent',
      }),
      await manager.request('conversation:close', { conversationId: p4.id, outcome: 'appointment_booked' }),
      await manager.request('conversation:close', { conversationId: p5.id, outcome: 'resolved' }),
    ];
    await waitForEvent(p3.chat, 'closed');

    expect(answers.map(codeOf)).toEqual(['ok', 'ok', 'ok']);
    expect([(await row(p3.id)).outcome, (await row(p4.id)).outcome, (await row(p5.id)).outcome]).toEqual([
      'redirected_urgent',
      'appointment_booked',
      'resolved',
    ]);
    expect(systemEvents(p3.chat).find((e) => e.event === 'closed')!.data).toEqual({ outcome: 'redirected_urgent' });
  });

  it('lets exactly one of two concurrent transfers into one free slot succeed', async () => {
    await setCap(x.staff.userId, 2);
    const a = await open('a');
    const b = await open('b');
    await waitUntil(async () => (await row(a.id)).status === 'assigned' && (await row(b.id)).status === 'assigned', 'a and b to be assigned to x');
    await setCap(y.staff.userId, 1);

    const answers = await Promise.all([
      x.client.request('conversation:transfer', { conversationId: a.id, to: { clinicianId: y.staff.userId } }),
      x.client.request('conversation:transfer', { conversationId: b.id, to: { clinicianId: y.staff.userId } }),
    ]);

    expect(answers.map(codeOf).sort()).toEqual(['at_capacity', 'ok']);
    expect([(await row(a.id)).assigned_clinician_id, (await row(b.id)).assigned_clinician_id].sort()).toEqual([x.staff.userId, y.staff.userId].sort());
    expect(await node.dataSource.query(`SELECT count(*)::int AS n FROM conversations WHERE assigned_clinician_id = $1`, [y.staff.userId])).toEqual([{ n: 1 }]);
  });

  it('refuses patients, other clinicians and other practices, changing nothing', async () => {
    const a = conversations['a']!;
    const holder = clinicianBy((await row(a.id)).assigned_clinician_id!);
    const stranger = await connectAs(node.url, practice.clinician, 10_000);
    clients.push(stranger);
    const elsewhere = await createPracticeWithManager(node);
    const otherManager = await connectAs(node.url, elsewhere.manager, 10_000);
    clients.push(otherManager);
    const before = { row: await row(a.id), assignments: await assignmentsOf(a.id), entries: a.chat.entries.length };
    const patient = a.chat.session.client;

    const answers = [
      await patient.request('conversation:transfer', { conversationId: a.id, to: 'queue' }),
      await patient.request('conversation:hold', { conversationId: a.id, isOnHold: true }),
      await patient.request('conversation:close', { conversationId: a.id, outcome: 'resolved' }),
      await stranger.request('conversation:transfer', { conversationId: a.id, to: { clinicianId: practice.clinician.userId } }),
      await stranger.request('conversation:transfer', { conversationId: a.id, to: 'queue' }),
      await stranger.request('conversation:close', { conversationId: a.id, outcome: 'resolved' }),
      await otherManager.request('conversation:close', { conversationId: a.id, outcome: 'resolved' }),
      await otherManager.request('conversation:transfer', { conversationId: a.id, to: 'queue' }),
      await holder.client.request('conversation:close', { conversationId: randomUUID(), outcome: 'resolved' }),
    ];

    expect(answers.map(codeOf)).toEqual(['forbidden', 'forbidden', 'forbidden', 'forbidden', 'forbidden', 'forbidden', 'forbidden', 'forbidden', 'not_found']);
    expect(await row(a.id)).toEqual(before.row);
    expect(await assignmentsOf(a.id)).toEqual(before.assignments);
    expect(a.chat.entries.length).toBe(before.entries);
  });

  it('answers malformed payloads with invalid_payload', async () => {
    const id = conversations['a']!.id;
    const bad: [string, unknown][] = [
      ['conversation:transfer', { conversationId: id }],
      ['conversation:transfer', { conversationId: id, to: 'elsewhere' }],
      ['conversation:transfer', { conversationId: id, to: { clinicianId: 'nope' } }],
      ['conversation:transfer', { conversationId: id, to: { clinicianId: randomUUID(), extra: 1 } }],
      ['conversation:hold', { conversationId: id, isOnHold: 'yes' }],
      ['conversation:close', { conversationId: id, outcome: 'cured' }],
      ['conversation:close', { conversationId: id, outcome: 'follow_up', followUp: { dueDate: '04/05/2031', ownerId: randomUUID() } }],
      ['conversation:close', { conversationId: id, outcome: 'follow_up', followUp: { dueDate: '2031-02-30', ownerId: randomUUID() } }],
      ['follow-up:list', { all: true }],
      ['follow-up:done', { followUpId: 42 }],
    ];

    const answers = [];
    for (const [event, payload] of bad) answers.push((await x.client.requestRaw(event, payload)) as { ok: boolean; error?: { code: string } });

    expect(answers.map(codeOf)).toEqual(bad.map(() => 'invalid_payload'));
  });
});
