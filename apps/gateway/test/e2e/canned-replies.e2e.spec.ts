import { randomUUID } from 'node:crypto';
import { HttpApi } from '@parley/client';
import { MAX_CANNED_REPLIES, type AuditPage, type CannedReply } from '@parley/protocol';
import { startTestApp, type TestApp } from '../app.js';
import {
  activatePatient,
  api,
  apiOk,
  createPracticeWithManager,
  createPracticeWithStaff,
  type TestPatient,
  type TestPractice,
  type TestStaff,
} from '../factories.js';

const PATH = '/api/practice/canned-replies';

describe('canned replies over HTTP (in-process gateway, real PostgreSQL)', () => {
  let gateway: TestApp;
  let practice: TestPractice;
  let patient: TestPatient;
  let otherManager: TestStaff;
  let otherPracticeId: string;

  const list = (token: string) => apiOk<CannedReply[]>(gateway.url, 'GET', PATH, { token });
  const rows = () => gateway.dataSource.query(`SELECT * FROM canned_replies ORDER BY id`);

  beforeAll(async () => {
    gateway = await startTestApp();
    practice = await createPracticeWithStaff(gateway);
    patient = await activatePatient(gateway.url, practice);
    const other = await createPracticeWithManager(gateway, { name: 'Hillside Surgery' });
    otherManager = other.manager;
    otherPracticeId = other.id;
  });

  afterAll(async () => {
    await gateway.close();
  });

  it('lets a manager create, edit and delete replies that every member of staff reads, audited with ids only', async () => {
    const token = practice.manager.token;

    const results = await apiOk<CannedReply>(
      gateway.url,
      'POST',
      PATH,
      { token, body: { title: 'Test results normal', text: 'Your results are normal; no action is needed.' } },
      201,
    );
    const repeat = await apiOk<CannedReply>(
      gateway.url,
      'POST',
      PATH,
      { token, body: { title: '  Repeat prescription ready  ', text: 'Your prescription is ready to collect.' } },
      201,
    );
    const edited = await apiOk<CannedReply>(
      gateway.url,
      'PUT',
      `${PATH}/${repeat.id}`,
      { token, body: { title: 'Repeat prescription ready', text: 'Your prescription has gone to your pharmacy.' } },
      200,
    );
    const seenByClinician = await list(practice.clinician.token);
    await apiOk(gateway.url, 'DELETE', `${PATH}/${results.id}`, { token });
    const afterDelete = await list(practice.clinician.token);
    const { events } = await apiOk<AuditPage>(gateway.url, 'GET', '/api/audit?limit=3', { token });

    expect(results).toMatchObject({ title: 'Test results normal', updatedBy: practice.manager.userId });
    expect(repeat.title).toBe('Repeat prescription ready');
    expect(edited).toMatchObject({ id: repeat.id, text: 'Your prescription has gone to your pharmacy.', createdAt: repeat.createdAt });
    expect(seenByClinician).toEqual([edited, results]);
    expect(afterDelete).toEqual([edited]);
    expect(events.map((event) => [event.action, event.data])).toEqual([
      ['canned-reply.deleted', { cannedReplyId: results.id }],
      ['canned-reply.changed', { cannedReplyId: repeat.id }],
      ['canned-reply.created', { cannedReplyId: repeat.id }],
    ]);
    expect(JSON.stringify(events)).not.toContain('prescription');
  });

  it('refuses patients any canned reply route, and clinicians every write, changing nothing', async () => {
    const [existing] = await list(practice.manager.token);
    const before = await rows();
    const body = { title: 'Mine', text: 'Changed.' };

    const answers = await Promise.all([
      api(gateway.url, 'GET', PATH, { token: patient.token }),
      api(gateway.url, 'POST', PATH, { token: patient.token, body }),
      api(gateway.url, 'POST', PATH, { token: practice.clinician.token, body }),
      api(gateway.url, 'PUT', `${PATH}/${existing!.id}`, { token: practice.clinician.token, body }),
      api(gateway.url, 'DELETE', `${PATH}/${existing!.id}`, { token: practice.clinician.token }),
    ]);
    const anonymous = await api(gateway.url, 'GET', PATH);

    for (const answer of answers) expect(answer).toMatchObject({ status: 403, body: { error: { code: 'forbidden' } } });
    expect(anonymous).toMatchObject({ status: 401, body: { error: { code: 'unauthorized' } } });
    expect(await rows()).toEqual(before);
  });

  it('answers another practice’s manager not_found for this practice’s replies, and shows them none', async () => {
    const [existing] = await list(practice.manager.token);
    const before = await rows();

    const edit = await api(gateway.url, 'PUT', `${PATH}/${existing!.id}`, { token: otherManager.token, body: { title: 'Ours', text: 'Ours now.' } });
    const remove = await api(gateway.url, 'DELETE', `${PATH}/${existing!.id}`, { token: otherManager.token });
    const missing = await api(gateway.url, 'DELETE', `${PATH}/${randomUUID()}`, { token: practice.manager.token });

    expect(edit).toMatchObject({ status: 404, body: { error: { code: 'not_found' } } });
    expect(remove).toMatchObject({ status: 404, body: { error: { code: 'not_found' } } });
    expect(missing).toMatchObject({ status: 404, body: { error: { code: 'not_found' } } });
    expect(await list(otherManager.token)).toEqual([]);
    expect(await rows()).toEqual(before);
  });

  it.each([
    ['an unknown field', 'POST', PATH, { title: 'A', text: 'B', isShared: true }],
    ['a missing text', 'POST', PATH, { title: 'A' }],
    ['a blank title', 'POST', PATH, { title: '   ', text: 'B' }],
    ['a title over 80 characters', 'POST', PATH, { title: 'x'.repeat(81), text: 'B' }],
    ['a text over 2,000 characters', 'POST', PATH, { title: 'A', text: 'x'.repeat(2_001) }],
    ['a text that is not a string', 'POST', PATH, { title: 'A', text: 42 }],
    ['a malformed id', 'PUT', `${PATH}/not-a-uuid`, { title: 'A', text: 'B' }],
  ] as const)('answers %s with invalid_payload and stores nothing', async (_case, method, path, body) => {
    const before = await rows();

    const answer = await api(gateway.url, method, path, { token: practice.manager.token, body });

    expect(answer).toMatchObject({ status: 400, body: { error: { code: 'invalid_payload' } } });
    expect(await rows()).toEqual(before);
  });

  it('is reachable through @parley/client’s HttpApi', async () => {
    const managerApi = new HttpApi({ baseUrl: gateway.url, token: practice.manager.token });

    const created = await managerApi.createCannedReply({ title: 'Through the client', text: 'Typed.' });
    const id = created.ok ? created.data.id : '';
    const updated = await managerApi.updateCannedReply(id, { title: 'Through the client', text: 'Edited.' });
    const deleted = await managerApi.deleteCannedReply(id);
    const again = await managerApi.deleteCannedReply(id);
    const listed = await new HttpApi({ baseUrl: gateway.url, token: practice.clinician.token }).listCannedReplies();

    expect(created.ok).toBe(true);
    expect(updated).toMatchObject({ ok: true, data: { id, text: 'Edited.' } });
    expect(deleted).toEqual({ ok: true, data: null });
    expect(again).toMatchObject({ ok: false, error: { code: 'not_found', status: 404 } });
    expect(listed.ok && listed.data.map((reply) => reply.id)).not.toContain(id);
  });

  it(`keeps at most ${MAX_CANNED_REPLIES} per practice`, async () => {
    const [{ n }] = await gateway.dataSource.query(`SELECT count(*)::int AS n FROM canned_replies WHERE practice_id = $1`, [otherPracticeId]);
    for (let i = n; i < MAX_CANNED_REPLIES - 1; i += 1) {
      await gateway.dataSource.query(
        `INSERT INTO canned_replies (id, practice_id, title, text, created_at, updated_at, updated_by) VALUES ($1, $2, $3, 'Text', now(), now(), $4)`,
        [randomUUID(), otherPracticeId, `Reply ${i}`, otherManager.userId],
      );
    }

    const last = await api(gateway.url, 'POST', PATH, { token: otherManager.token, body: { title: 'The last one', text: 'Fits.' } });
    const over = await api(gateway.url, 'POST', PATH, { token: otherManager.token, body: { title: 'One too many', text: 'Refused.' } });
    const elsewhere = await api(gateway.url, 'POST', PATH, { token: practice.manager.token, body: { title: 'Another practice', text: 'Unaffected.' } });

    expect(last.status).toBe(201);
    expect(over).toMatchObject({ status: 409, body: { error: { code: 'conflict' } } });
    expect(elsewhere.status).toBe(201);
    expect(await list(otherManager.token)).toHaveLength(MAX_CANNED_REPLIES);
  });
});
