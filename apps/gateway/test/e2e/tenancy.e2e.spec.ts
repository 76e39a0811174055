import type { ParleyClient } from '@parley/client';
import { ready } from '@parley/crypto';
import { startTestApp, type TestApp } from '../app.js';
import { follow, patientChat, staffChat, waitForAssignment, type Chatter } from '../chat.js';
import { activatePatient, api, connectAs, createPracticeWithStaff, type TestPatient, type TestPractice } from '../factories.js';

const SIGNATURE = Buffer.alloc(64, 7).toString('base64');
const REFUSALS = ['not_found', 'forbidden'];

/** What any command answers, as far as this test looks: success, or a code (a refusal, or a transport failure). */
type Answer = { ok: true } | { ok: false; error: { code: string } };

describe('two practices in one deployment (in-process gateway, real PostgreSQL and sockets)', () => {
  let gateway: TestApp;
  let a: TestPractice;
  let b: TestPractice;
  let patientA: TestPatient;
  let patientB: TestPatient;
  /** Every id of practice B that A's people could learn something from; none may appear in anything they receive. */
  let secretsOfB: string[];
  let ids: { closedConversation: string; openConversation: string; followUp: string };
  const clients: ParleyClient[] = [];
  const chats: Chatter[] = [];

  beforeAll(async () => {
    await ready();
    gateway = await startTestApp();
    [a, b] = [await createPracticeWithStaff(gateway, { name: 'Practice A Surgery' }), await createPracticeWithStaff(gateway, { name: 'Practice B Surgery' })];
    patientA = await activatePatient(gateway.url, a);
    patientB = await activatePatient(gateway.url, b);

    // Practice B at work: a closed conversation with a follow-up, and an open one with a message.
    const chatB = await patientChat(gateway.url, b, patientB);
    const clinicianB = await staffChat(gateway.url, b, b.clinician);
    chats.push(chatB, clinicianB);
    const closedConversation = (await chatB.session.openConversation('admin')).id;
    await follow(clinicianB, closedConversation);
    await waitForAssignment(clinicianB);
    const clinicianBClient = await connectAs(gateway.url, b.clinician, 10_000);
    clients.push(clinicianBClient);
    const closed = await clinicianBClient.request('conversation:close', {
      conversationId: closedConversation,
      outcome: 'follow_up',
      followUp: { dueDate: '2030-01-15', ownerId: b.clinician.userId },
    });
    expect(closed).toMatchObject({ ok: true });
    const followUps = await clinicianBClient.request('follow-up:list', {});
    const openConversation = (await chatB.session.openConversation('admin')).id;
    await follow(chatB, openConversation);
    expect(await chatB.session.conversation(openConversation).send('practice B only')).toMatchObject({ ok: true });
    ids = { closedConversation, openConversation, followUp: followUps.ok ? followUps.data.followUps[0]!.id : 'missing' };
    secretsOfB = [
      b.id,
      b.odsCode,
      b.name,
      b.manager.userId,
      b.clinician.userId,
      b.manager.deviceId,
      b.clinician.deviceId,
      patientB.userId,
      patientB.deviceId,
      ...Object.values(ids),
    ];
  }, 120_000);

  afterAll(async () => {
    for (const client of clients) client.close();
    for (const chat of chats) await chat.session.close();
    await gateway?.close();
  });

  const leaks = (value: unknown): string[] => {
    const text = JSON.stringify(value);
    return secretsOfB.filter((secret) => text.includes(secret));
  };

  it("refuses every socket command of A's staff and patients that names B's conversations, follow-ups or staff, and leaks nothing", async () => {
    const asA = {
      manager: await connectAs(gateway.url, a.manager, 10_000),
      clinician: await connectAs(gateway.url, a.clinician, 10_000),
      patient: await connectAs(gateway.url, patientA, 10_000),
    };
    clients.push(...Object.values(asA));
    expect(await asA.clinician.request('staff:availability', { availability: 'available' })).toEqual({ ok: true, data: null });
    const attempts: [string, (client: ParleyClient) => Promise<Answer>][] = [
      ['join', (c) => c.request('conversation:join', { conversationId: ids.openConversation })],
      ['join closed', (c) => c.request('conversation:join', { conversationId: ids.closedConversation })],
      ['sync', (c) => c.request('conversation:sync', { conversationId: ids.openConversation, afterSeq: 0 })],
      ['typing', (c) => c.request('conversation:typing', { conversationId: ids.openConversation, isTyping: true })],
      ['receipt', (c) => c.request('conversation:receipt', { conversationId: ids.openConversation, kind: 'read', upToSeq: 1 })],
      ['claim', (c) => c.request('conversation:claim', { conversationId: ids.openConversation })],
      ['transfer', (c) => c.request('conversation:transfer', { conversationId: ids.openConversation, to: 'queue' })],
      ['hold', (c) => c.request('conversation:hold', { conversationId: ids.openConversation, isOnHold: true })],
      ['close', (c) => c.request('conversation:close', { conversationId: ids.openConversation, outcome: 'resolved' })],
      ['follow-up done', (c) => c.request('follow-up:done', { followUpId: ids.followUp })],
      ["caps of B's clinician", (c) => c.request('capacity:set-clinician', { clinicianId: b.clinician.userId, maxConcurrent: 9, dailyMax: null })],
    ];
    const outcomes: Record<string, unknown> = {};
    for (const [role, client] of Object.entries(asA)) {
      for (const [name, attempt] of attempts) {
        const result = await attempt(client);
        outcomes[`${role} ${name}`] = result.ok ? 'ALLOWED' : REFUSALS.includes(result.error.code) ? 'refused' : result.error.code;
        expect(leaks(result)).toEqual([]);
      }
    }

    expect(Object.entries(outcomes).filter(([, outcome]) => outcome !== 'refused')).toEqual([]);
    const [{ n: entriesOfB }] = await gateway.dataSource.query(`SELECT count(*)::int AS n FROM record_entries WHERE conversation_id = $1`, [
      ids.openConversation,
    ]);
    const [conversationB] = await gateway.dataSource.query(`SELECT status, assigned_clinician_id FROM conversations WHERE id = $1`, [ids.openConversation]);
    const [capsB] = await gateway.dataSource.query(`SELECT max_concurrent FROM clinician_capacity WHERE user_id = $1`, [b.clinician.userId]);
    expect(entriesOfB).toBe(4);
    expect(conversationB).toEqual({ status: 'assigned', assigned_clinician_id: b.clinician.userId });
    expect(capsB.max_concurrent).not.toBe(9);
  });

  it("shows A's staff and patients only their own practice in every list: queue, conversations, follow-ups, dashboard, hours", async () => {
    const manager = await connectAs(gateway.url, a.manager, 10_000);
    const clinician = await connectAs(gateway.url, a.clinician, 10_000);
    const patient = await connectAs(gateway.url, patientA, 10_000);
    clients.push(manager, clinician, patient);

    const answers = {
      queue: await manager.request('queue:list', {}),
      managerConversations: await manager.request('conversation:list', {}),
      clinicianConversations: await clinician.request('conversation:list', {}),
      patientConversations: await patient.request('conversation:list', {}),
      followUps: await manager.request('follow-up:list', {}),
      dashboard: await manager.request('dashboard:get', {}),
      hours: await patient.request('hours:get', {}),
    };

    for (const [name, answer] of Object.entries(answers)) expect({ name, ok: answer.ok, leaks: leaks(answer) }).toEqual({ name, ok: true, leaks: [] });
    expect(answers.queue).toMatchObject({ ok: true, data: { practiceId: a.id } });
  });

  it("answers every HTTP route of A's manager about B with not_found or forbidden, lists only A, and changes nothing of B", async () => {
    const token = a.manager.token;
    const reads = [
      '/api/audit',
      `/api/audit?conversationId=${ids.openConversation}`,
      `/api/audit?subjectUserId=${patientB.userId}`,
      `/api/audit?actorUserId=${b.clinician.userId}`,
      '/api/practice/settings',
      '/api/practice/keys',
      '/api/practice/terms',
      '/api/devices',
      '/api/staff',
      '/api/patients',
      '/api/hours',
      '/api/keys/backup',
    ];
    const writes: [method: 'POST' | 'PUT', path: string, body?: unknown][] = [
      ['POST', `/api/devices/${b.clinician.deviceId}/revoke`],
      ['PUT', `/api/devices/${b.clinician.deviceId}/certificate`, { certificate: SIGNATURE }],
      ['PUT', `/api/users/${patientB.userId}/account-key-certificate`, { certificate: SIGNATURE }],
      ['POST', `/api/staff/${b.clinician.userId}/devices/${b.clinician.deviceId}/revoke`],
      ['POST', `/api/staff/${b.clinician.userId}/offboard`],
    ];

    const readOutcomes = [];
    for (const path of reads) {
      const response = await api(gateway.url, 'GET', path, { token });
      readOutcomes.push({ path, status: response.status < 500 ? 'answered' : response.status, leaks: leaks(response.body) });
    }
    const writeOutcomes = [];
    for (const [method, path, body] of writes) {
      const response = await api<{ error?: { code: string } }>(gateway.url, method, path, { token, body });
      writeOutcomes.push({
        path,
        refused: REFUSALS.includes(response.body?.error?.code ?? '') && [403, 404].includes(response.status),
        leaks: leaks(response.body),
      });
    }
    const [deviceB] = await gateway.dataSource.query(`SELECT revoked_at FROM devices WHERE id = $1`, [b.clinician.deviceId]);

    expect(readOutcomes).toEqual(reads.map((path) => ({ path, status: 'answered', leaks: [] })));
    expect(writeOutcomes).toEqual(writes.map(([, path]) => ({ path, refused: true, leaks: [] })));
    expect(deviceB.revoked_at).toBeNull();
    expect(await api(gateway.url, 'GET', '/api/practice/keys', { token: b.manager.token })).toMatchObject({ status: 200, body: { practiceId: b.id } });
  });
});
