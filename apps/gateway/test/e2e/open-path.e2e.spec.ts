import { ready } from '@parley/crypto';
import type { ConversationOpen, ConversationSummary, PracticeSettings } from '@parley/protocol';
import { startTestApp, type TestApp } from '../app.js';
import { patientChat, staffChat, type Chatter } from '../chat.js';
import { activatePatient, api, apiOk, connectAs, createPracticeWithStaff, type TestPractice } from '../factories.js';
import { waitUntil } from '../wait.js';

const failure = (error: unknown) => error as { code: string; message: string };

/**
 * Issue #16, the open path: one open is one transaction (the conversation, its envelopes, its audit row and its record's
 * `opened` and `acknowledged` entries), shared with the other opens waiting on the node; what the practice set is read once per practice and shared,
 * and an edit made through this node is seen by the very next open.
 */
describe('the open path (in-process gateway, real PostgreSQL and sockets)', () => {
  let gateway: TestApp;
  let practice: TestPractice;
  let patient: Chatter;
  let patientToken = '';
  const opensSent: ConversationOpen[] = [];
  const query = <Row>(text: string, parameters: unknown[] = []): Promise<Row[]> => gateway.dataSource.query(text, parameters);
  const firstEntries = (conversationId: string) =>
    query<{ seq: number; event: string; tx: string; text: string | null }>(
      `SELECT seq::int AS seq, system_event AS event, xmin::text AS tx, system_data->>'text' AS text FROM record_entries WHERE conversation_id = $1 ORDER BY seq`,
      [conversationId],
    );
  const openWith = (topic: string) =>
    patient.session.openConversation(topic).then(
      (conversation): ConversationSummary | { code: string } => conversation,
      (error: unknown) => ({ code: failure(error).code }),
    );

  beforeAll(async () => {
    await ready();
    gateway = await startTestApp({});
    practice = await createPracticeWithStaff(gateway);
    // One patient opens several conversations here (the per-patient limits have their own spec).
    await apiOk(
      gateway.url,
      'PUT',
      '/api/practice/patient-limits',
      { token: practice.manager.token, body: { maxOpenPerPatient: null, maxNewPerPatientPerDay: null } },
      200,
    );
    const account = await activatePatient(gateway.url, practice);
    patientToken = account.token;
    patient = await patientChat(gateway.url, practice, account);
    // Every open's payload, to send the very same open again.
    const client = patient.session.client;
    const request = client.request.bind(client);
    client.request = ((event: string, payload: unknown, ...rest: unknown[]) => {
      if (event === 'conversation:open') opensSent.push(payload as ConversationOpen);
      return (request as (...args: unknown[]) => unknown)(event, payload, ...rest);
    }) as typeof client.request;
  });

  afterAll(async () => {
    await patient?.session.close();
    await gateway?.close();
  });

  it('writes opened and acknowledged as seq 1 and 2, and the audit row, in the conversation’s own transaction', async () => {
    const conversation = await patient.session.openConversation('admin');

    const entries = await firstEntries(conversation.id);
    const [envelopes] = await query<{ tx: string }>(`SELECT DISTINCT xmin::text AS tx FROM conversation_envelopes WHERE conversation_id = $1`, [
      conversation.id,
    ]);
    const audited = await query<{ tx: string }>(`SELECT xmin::text AS tx FROM audit_events WHERE action = 'conversation.opened' AND conversation_id = $1`, [
      conversation.id,
    ]);
    expect(conversation.lastSeq).toBe(2);
    expect(entries.map(({ seq, event }) => ({ seq, event }))).toEqual([
      { seq: 1, event: 'opened' },
      { seq: 2, event: 'acknowledged' },
    ]);
    expect(entries.map(({ tx }) => tx)).toEqual([envelopes!.tx, envelopes!.tx]);
    expect(audited).toEqual([{ tx: envelopes!.tx }]);
  });

  it('stores nothing when the first entries fail, and the same open sent again writes both as seq 1 and 2', async () => {
    // The acknowledgement's row fails once, in the same statement as the `opened` row before it (a sequence, not a
    // table, counts the failures: its increments survive the rollback).
    await query(`CREATE SEQUENCE open_path_fault`);
    await query(`CREATE FUNCTION open_path_fail_once() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.system_event = 'acknowledged' AND nextval('open_path_fault') = 1 THEN RAISE EXCEPTION 'injected: the record commit fails'; END IF;
        RETURN NEW;
      END $$`);
    await query(`CREATE TRIGGER open_path_fail_once BEFORE INSERT ON record_entries FOR EACH ROW EXECUTE FUNCTION open_path_fail_once()`);
    try {
      const refused = await openWith('admin');
      const open = opensSent.at(-1)!;
      const afterFailure = await firstEntries(open.conversationId);
      const storedAfterFailure = await query(`SELECT id FROM conversations WHERE id = $1`, [open.conversationId]);
      const retried = await patient.session.client.request('conversation:open', open);
      const afterRetry = await firstEntries(open.conversationId);
      const audited = await query<{ n: number }>(`SELECT count(*)::int AS n FROM audit_events WHERE action = 'conversation.opened' AND conversation_id = $1`, [
        open.conversationId,
      ]);

      expect(refused).toEqual({ code: 'internal' });
      expect(afterFailure).toEqual([]);
      expect(storedAfterFailure).toEqual([]);
      expect(retried).toMatchObject({ ok: true, data: { conversation: { id: open.conversationId, lastSeq: 2 } } });
      expect(afterRetry.map(({ seq, event }) => ({ seq, event }))).toEqual([
        { seq: 1, event: 'opened' },
        { seq: 2, event: 'acknowledged' },
      ]);
      expect(afterRetry[0]!.tx).toBe(afterRetry[1]!.tx);
      expect(audited).toEqual([{ n: 1 }]);
    } finally {
      await query(`DROP TRIGGER open_path_fail_once ON record_entries`);
    }
  });

  it('sees a settings edit made through this node at the very next open: the acknowledgement, a disabled topic, paused intake, new terms', async () => {
    const manager = practice.manager.token;
    await openWith('admin'); // the practice's settings are now read and shared
    await apiOk(
      gateway.url,
      'PUT',
      '/api/practice/texts',
      { token: manager, body: { acknowledgementTemplate: 'Received by {practiceName}; reply {replyTime}. Urgent: 111, or 999 in an emergency.' } },
      200,
    );
    const withNewText = (await openWith('admin')) as ConversationSummary;
    const { categories } = await apiOk<PracticeSettings>(gateway.url, 'GET', '/api/practice/settings', { token: manager });
    const withoutAdmin = categories.map((category) => ({ ...category, isEnabled: category.slug !== 'admin' }));
    await apiOk(gateway.url, 'PUT', '/api/practice/categories', { token: manager, body: { categories: withoutAdmin } }, 200);
    const disabledTopic = await openWith('admin');
    const otherTopic = await openWith('appointment');
    await apiOk(gateway.url, 'PUT', '/api/practice/categories', { token: manager, body: { categories } }, 200);
    const managerSocket = await connectAs(gateway.url, practice.manager, 10_000);
    await managerSocket.request('capacity:set-practice', { maxQueue: null, maxNewPerDay: null, isIntakePaused: true });
    const paused = await openWith('admin');
    await managerSocket.request('capacity:set-practice', { maxQueue: null, maxNewPerDay: null, isIntakePaused: false });
    managerSocket.close();
    await apiOk(gateway.url, 'POST', '/api/practice/terms', { token: manager, body: { text: 'Terms, version one.' } }, 201);
    const beforeConsent = await openWith('admin');
    const accepted = await api(gateway.url, 'POST', '/api/practice/terms/consent', { token: patientToken, body: { version: 1 } });
    const afterConsent = await openWith('admin');

    const [, acknowledgement] = await firstEntries(withNewText.id);
    expect(acknowledgement!.text).toMatch(/^Received by .+; reply .+\. Urgent: 111/);
    expect(disabledTopic).toEqual({ code: 'invalid_payload' });
    expect(otherTopic).toMatchObject({ topic: 'appointment' });
    expect(paused).toEqual({ code: 'at_capacity' });
    expect(beforeConsent).toEqual({ code: 'forbidden' });
    expect(accepted.status).toBe(200);
    expect(afterConsent).toMatchObject({ topic: 'admin' });
  });

  /**
   * Runs `work` in a practice of its own, with a patient and its clinician signed in and available, so the conversations
   * the tests above left waiting do not come first; both sign out after.
   */
  async function inOwnPractice(work: (other: TestPractice, otherPatient: Chatter, clinician: Chatter) => Promise<void>): Promise<void> {
    const other = await createPracticeWithStaff(gateway);
    const otherPatient = await patientChat(gateway.url, other, await activatePatient(gateway.url, other));
    const clinician = await staffChat(gateway.url, other, other.clinician);
    try {
      await work(other, otherPatient, clinician);
    } finally {
      await otherPatient.session.close();
      await clinician.session.close();
    }
  }

  it('assigns in the open’s own transaction when a clinician has room: `assigned` as seq 3 with its audit row, the clinician told, the answer saying so', async () => {
    await inOwnPractice(async (other, otherPatient, clinician) => {
      const told = new Promise((resolve) => clinician.session.client.on('conversation:assigned', resolve));
      const conversation = await otherPatient.session.openConversation('admin');

      const entries = await firstEntries(conversation.id);
      const audited = await query<{ action: string; tx: string }>(`SELECT action, xmin::text AS tx FROM audit_events WHERE conversation_id = $1 ORDER BY id`, [
        conversation.id,
      ]);
      expect(conversation).toMatchObject({ status: 'assigned', assignedClinicianId: other.clinician.userId, lastSeq: 3 });
      expect(entries.map(({ seq, event }) => ({ seq, event }))).toEqual([
        { seq: 1, event: 'opened' },
        { seq: 2, event: 'acknowledged' },
        { seq: 3, event: 'assigned' },
      ]);
      expect(audited.map(({ action }) => action)).toEqual(['conversation.opened', 'conversation.assigned']);
      expect(new Set([...entries, ...audited].map(({ tx }) => tx)).size).toBe(1);
      expect(await told).toMatchObject({ conversationId: conversation.id, clinicianId: other.clinician.userId, how: 'auto' });
    });
  });

  it('stores an open alone, routed by a pass after it, when the routing locks stay held past the group’s wait', async () => {
    await inOwnPractice(async (other, otherPatient) => {
      let opened: ConversationSummary | undefined;
      // The practice's routing locks held, as a stuck transaction would, while the patient opens.
      await gateway.dataSource.transaction(async (db) => {
        await db.query(`SELECT 1 FROM clinician_capacity WHERE practice_id = $1 ORDER BY user_id FOR UPDATE`, [other.id]);
        opened = await otherPatient.session.openConversation('admin');
      });
      await waitUntil(async () => (await firstEntries(opened!.id)).length === 3, 'the pass after the open to assign it');

      expect(opened).toMatchObject({ status: 'waiting', lastSeq: 2 });
      expect((await firstEntries(opened!.id)).map(({ event }) => event)).toEqual(['opened', 'acknowledged', 'assigned']);
      expect(await query(`SELECT assigned_clinician_id FROM conversations WHERE id = $1`, [opened!.id])).toEqual([
        { assigned_clinician_id: other.clinician.userId },
      ]);
    });
  });
});
