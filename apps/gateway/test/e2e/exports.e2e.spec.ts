import { ready } from '@parley/crypto';
import type { AuditPage } from '@parley/protocol';
import { startTestApp, type TestApp } from '../app.js';
import { follow, patientChat, type Chatter } from '../chat.js';
import { activatePatient, api, apiOk, createPracticeWithStaff, type TestPatient, type TestPractice } from '../factories.js';

describe('exports of a conversation reach the audit log (in-process gateway, real PostgreSQL)', () => {
  let gateway: TestApp;
  let practice: TestPractice;
  let otherPractice: TestPractice;
  let patient: TestPatient;
  let chat: Chatter;
  let conversationId: string;

  const exportsPath = (id: string) => `/api/conversations/${id}/exports`;
  const exportedEvents = async () =>
    (await apiOk<AuditPage>(gateway.url, 'GET', `/api/audit?action=conversation.exported`, { token: practice.manager.token })).events;

  beforeAll(async () => {
    await ready();
    gateway = await startTestApp();
    practice = await createPracticeWithStaff(gateway, { name: 'Riverside Surgery' });
    otherPractice = await createPracticeWithStaff(gateway, { name: 'Hillside Surgery' });
    patient = await activatePatient(gateway.url, practice);
    chat = await patientChat(gateway.url, practice, patient, 10_000);
    conversationId = (await chat.session.openConversation('admin')).id;
    await follow(chat, conversationId);
  });

  afterAll(async () => {
    await chat?.session.close();
    await gateway?.close();
  });

  it('records who exported which conversation, of which patient, in which formats — never the content', async () => {
    await apiOk(gateway.url, 'POST', exportsPath(conversationId), { token: practice.clinician.token, body: { formats: ['fhir-r4-bundle', 'transcript'] } });

    const events = await exportedEvents();

    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      action: 'conversation.exported',
      actorUserId: practice.clinician.userId,
      conversationId,
      subjectUserId: patient.userId,
      data: { formats: ['fhir-r4-bundle', 'transcript'] },
    });
  });

  it('refuses patients, other practices’ staff, unknown ids and malformed bodies, and records nothing for them', async () => {
    const before = (await exportedEvents()).length;
    const body = { formats: ['transcript'] };

    const asPatient = await api(gateway.url, 'POST', exportsPath(conversationId), { token: patient.token, body });
    const asOtherPractice = await api(gateway.url, 'POST', exportsPath(conversationId), { token: otherPractice.manager.token, body });
    const unknown = await api(gateway.url, 'POST', exportsPath('6f1c1d0e-8a59-4d53-9d1e-2f4b1b7f4a11'), { token: practice.clinician.token, body });
    const notUuid = await api(gateway.url, 'POST', exportsPath('42'), { token: practice.clinician.token, body });
    const unknownFormat = await api(gateway.url, 'POST', exportsPath(conversationId), { token: practice.clinician.token, body: { formats: ['pdf'] } });
    const repeated = await api(gateway.url, 'POST', exportsPath(conversationId), {
      token: practice.clinician.token,
      body: { formats: ['transcript', 'transcript'] },
    });
    const extraField = await api(gateway.url, 'POST', exportsPath(conversationId), { token: practice.clinician.token, body: { ...body, content: 'x' } });
    const anonymous = await api(gateway.url, 'POST', exportsPath(conversationId), { body });

    expect(asPatient.status).toBe(403);
    expect(asOtherPractice.status).toBe(403);
    expect(unknown.status).toBe(404);
    for (const response of [notUuid, unknownFormat, repeated, extraField]) expect(response.status).toBe(400);
    expect(anonymous.status).toBe(401);
    expect(await exportedEvents()).toHaveLength(before);
  });
});
