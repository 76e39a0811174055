import { randomBytes, randomUUID } from 'node:crypto';
import type { ParleyClient } from '@parley/client';
import { ready } from '@parley/crypto';
import { startTestApp, type TestApp } from '../app.js';
import { follow, patientChat, staffChat, waitForAssignment, type Chatter } from '../chat.js';
import { activatePatient, api, connectAs, createPracticeWithStaff, type TestPractice } from '../factories.js';
import { waitUntil } from '../wait.js';

/** One sample of the Prometheus text format: name, labels and value. */
interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

function samples(text: string): Sample[] {
  return text
    .split('\n')
    .filter((line) => line && !line.startsWith('#'))
    .map((line) => {
      const [, name, labelText = '', value] = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line) ?? [];
      const labels = Object.fromEntries([...labelText.matchAll(/(\w+)="([^"]*)"/g)].map(([, key, val]) => [key!, val!]));
      return { name: name!, labels, value: Number(value) };
    });
}

/** The value of the one sample with this name whose labels include `labels`; undefined when there is none. */
function valueOf(all: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  return all.find((sample) => sample.name === name && Object.entries(labels).every(([key, val]) => sample.labels[key] === val))?.value;
}

describe('GET /metrics (in-process gateway, real PostgreSQL and sockets)', () => {
  const token = randomBytes(24).toString('hex');
  const marker = `MARKER-${randomUUID()}`;
  let gateway: TestApp;
  let practice: TestPractice;
  let manager: ParleyClient;
  const chats: Chatter[] = [];

  const scrape = async (): Promise<{ text: string; all: Sample[] }> => {
    const response = await fetch(`${gateway.url}/metrics`, { headers: { authorization: `Bearer ${token}` } });
    expect(response.status).toBe(200);
    const text = await response.text();
    return { text, all: samples(text) };
  };

  beforeAll(async () => {
    await ready();
    gateway = await startTestApp({ METRICS_TOKEN: token });
    practice = await createPracticeWithStaff(gateway);
    manager = await connectAs(gateway.url, practice.manager, 10_000);
    const clinician = await staffChat(gateway.url, practice, practice.clinician);
    chats.push(clinician);
    expect(await manager.request('capacity:set-clinician', { clinicianId: practice.clinician.userId, maxConcurrent: 1, dailyMax: null })).toEqual({
      ok: true,
      data: null,
    });
    const first = await patientChat(gateway.url, practice, await activatePatient(gateway.url, practice));
    chats.push(first);
    const conversationId = (await first.session.openConversation('admin')).id;
    await follow(first, conversationId);
    await follow(clinician, conversationId);
    await waitForAssignment(clinician);
    for (let i = 0; i < 3; i += 1) expect(await first.session.conversation(conversationId).send(`${marker} ${i}`)).toMatchObject({ ok: true });
    // The clinician is at their cap of 1: the second patient's conversation waits in the queue.
    const second = await patientChat(gateway.url, practice, await activatePatient(gateway.url, practice));
    chats.push(second);
    await second.session.openConversation('admin');
    expect(await manager.request('conversation:send', {} as never)).toMatchObject({ ok: false, error: { code: 'invalid_payload' } });
  });

  afterAll(async () => {
    manager?.close();
    for (const chat of chats) await chat.session.close();
    await gateway?.close();
  });

  it('refuses a scrape without the token or with a wrong one, and says nothing about the metrics', async () => {
    const none = await api(gateway.url, 'GET', '/metrics');
    const wrong = await api(gateway.url, 'GET', '/metrics', { token: `${token}x` });
    const notBearer = await fetch(`${gateway.url}/metrics`, { headers: { authorization: token } });

    expect(none).toEqual({ status: 401, body: { error: { code: 'unauthorized', message: expect.any(String) } } });
    expect(wrong.status).toBe(401);
    expect(notBearer.status).toBe(401);
    expect(JSON.stringify([none.body, wrong.body])).not.toContain('parley_');
  });

  it('counts sockets by role, commands by outcome and error code, and times send→ack', async () => {
    const { all } = await scrape();

    expect(valueOf(all, 'parley_connected_sockets', { role: 'patient' })).toBe(2);
    expect(valueOf(all, 'parley_connected_sockets', { role: 'clinician' })).toBe(1);
    expect(valueOf(all, 'parley_connected_sockets', { role: 'manager' })).toBe(1);
    expect(valueOf(all, 'parley_socket_commands_total', { event: 'conversation:send', outcome: 'ok' })).toBe(3);
    expect(valueOf(all, 'parley_socket_errors_total', { event: 'conversation:send', code: 'invalid_payload' })).toBe(1);
    expect(valueOf(all, 'parley_send_ack_seconds_count')).toBe(3);
    expect(valueOf(all, 'parley_send_ack_seconds_sum')).toBeGreaterThan(0);
    expect(valueOf(all, 'parley_socket_command_seconds_count', { event: 'conversation:open' })).toBe(2);
  });

  it('shows the write path, assignments, queue, caps and the database pool', async () => {
    await waitUntil(
      async () => valueOf((await scrape()).all, 'parley_queue_waiting', { practice_id: practice.id }) === 1,
      'the waiting conversation in the metrics',
    );
    const { all } = await scrape();
    const ofPractice = { practice_id: practice.id };

    // Entries the record writer batched: the three messages (each conversation's opened and acknowledged commit with the
    // conversation itself, in its open's transaction, and so does the first one's assigned: the clinician had room).
    expect(valueOf(all, 'parley_record_batch_size_sum')).toBe(3);
    expect(valueOf(all, 'parley_record_batch_size_count')).toBeGreaterThanOrEqual(1);
    expect(valueOf(all, 'parley_record_batch_size_bucket', { le: '256' })).toBe(valueOf(all, 'parley_record_batch_size_count'));
    expect(valueOf(all, 'parley_assignments_total', { how: 'auto' })).toBe(1);
    expect(valueOf(all, 'parley_queue_longest_wait_seconds', ofPractice)).toBeGreaterThanOrEqual(0);
    expect(valueOf(all, 'parley_conversations_active', ofPractice)).toBe(1);
    expect(valueOf(all, 'parley_clinician_capacity', ofPractice)).toBe(1);
    expect(valueOf(all, 'parley_cap_utilisation_ratio', ofPractice)).toBe(1);
    expect(valueOf(all, 'parley_db_pool_connections', { state: 'max' })).toBeGreaterThan(0);
    expect(valueOf(all, 'parley_db_pool_connections', { state: 'total' })).toBeGreaterThan(0);
    // Activations of the manager, the clinician and both patients; routes are patterns, never concrete ids.
    expect(valueOf(all, 'parley_http_responses_total', { method: 'POST', route: '/api/auth/activate', status: '200' })).toBe(4);
    expect(valueOf(all, 'parley_http_responses_total', { method: 'PUT', route: '/api/devices/:id/certificate', status: '204' })).toBe(2);
  });

  it('never carries message content, names or tokens', async () => {
    const { text } = await scrape();

    expect(text).not.toContain(marker);
    expect(text).not.toContain(token);
    expect(text).not.toContain(practice.clinician.session.user.displayName);
    expect(text).not.toContain(practice.manager.token);
    expect(text).not.toContain(practice.manager.deviceId);
  });
});
