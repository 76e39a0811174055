import { ready } from '@parley/crypto';
import type { NotificationSettings, PushPayload } from '@parley/protocol';
import { startLocalPushService, type LocalPushService, type PushServiceSubscription } from '@parley/testing';
import { DateTime } from 'luxon';
import { FakeClock } from '../../src/common/clock.js';
import { RealtimePublisher } from '../../src/common/realtime.publisher.js';
import { rooms } from '../../src/common/rooms.js';
import { NotificationDispatcher } from '../../src/notifications/notification-dispatcher.js';
import { rotateVapidKey } from '../../src/notifications/vapid-rotate.js';
import { startTestApp, type TestApp } from '../app.js';
import { follow, patientChat, staffChat, type Chatter } from '../chat.js';
import { activatePatient, api, apiOk, connectAs, createPracticeWithStaff, signIn, type TestPatient, type TestPractice } from '../factories.js';
import { subscribedPatient } from '../push.js';
import { waitUntil } from '../wait.js';

/**
 * Issue #19, server side: a reply to a patient who is away reaches a local push service that implements the Web Push
 * protocol and decrypts to the content-free payload; nothing for a patient who is online; nothing after sign-out.
 * Real gateway, PostgreSQL, sockets and HTTP; the push service is a real HTTP server on loopback.
 */
describe('push notifications (in-process gateway, real PostgreSQL, a local Web Push service)', () => {
  const clock = new FakeClock();
  let gateway: TestApp;
  let pushService: LocalPushService;
  let practice: TestPractice;
  let clinician: Chatter;
  let dispatcher: NotificationDispatcher;
  const chats: Chatter[] = [];

  const REPLY = 'Your blood test results are normal, no need to worry';

  /** A patient with an open conversation assigned to the clinician, subscribed to push, then gone (their socket closed). */
  const awayPatient = async (): Promise<{ account: TestPatient; conversationId: string; subscription: PushServiceSubscription; chat: Chatter }> => {
    const patient = await onlinePatient();
    await leave(patient.account, patient.chat);
    return patient;
  };
  /** The same, still connected. */
  const onlinePatient = () => subscribedPatient({ url: gateway.url, practice, clinician, pushService, chats });

  const isConnected = async (userId: string) => (await gateway.app.get(RealtimePublisher).usersIn(rooms.user(userId))).has(userId);
  const leave = async (account: TestPatient, chat: Chatter) => {
    await chat.session.close();
    await waitUntil(async () => !(await isConnected(account.userId)), 'the patient to be gone');
  };
  /** The clinician replies; resolves once the gateway has done whatever it does about notices for it. */
  const reply = async (conversationId: string, text = REPLY) => {
    await clinician.session.conversation(conversationId).send(text);
    await dispatcher.idle();
  };
  const deliveriesTo = (subscription: PushServiceSubscription) => pushService.deliveries.filter((delivery) => delivery.endpoint === subscription.endpoint);
  const subscriptionsOf = async (userId: string) =>
    Number((await gateway.dataSource.query(`SELECT count(*)::int AS n FROM push_subscriptions WHERE user_id = $1`, [userId]))[0].n);
  const setSettings = (settings: NotificationSettings) =>
    apiOk<NotificationSettings>(gateway.url, 'PUT', '/api/practice/notification-settings', { token: practice.manager.token, body: settings }, 200);

  beforeAll(async () => {
    await ready();
    pushService = await startLocalPushService();
    gateway = await startTestApp({ PUSH_ALLOW_INSECURE_ENDPOINTS: 'true' }, clock);
    dispatcher = gateway.app.get(NotificationDispatcher);
    practice = await createPracticeWithStaff(gateway);
    clinician = await staffChat(gateway.url, practice, practice.clinician);
    const manager = await connectAs(gateway.url, practice.manager);
    await manager.request('capacity:set-clinician', { clinicianId: practice.clinician.userId, maxConcurrent: 50, dailyMax: null });
    manager.close();
  }, 60_000);

  afterAll(async () => {
    for (const chat of [...chats, clinician]) await chat?.session.close();
    await gateway?.close();
    await pushService?.close();
  });

  beforeEach(async () => {
    clock.set(new Date());
    pushService.answerAllWith(null);
    await setSettings({ showPracticeName: false, quietHours: null });
  });

  it('sends an away patient a push that decrypts to the content-free payload and nothing else', async () => {
    const { conversationId, subscription } = await awayPatient();

    await reply(conversationId);

    await waitUntil(() => deliveriesTo(subscription).length === 1, 'the push');
    const [delivery] = deliveriesTo(subscription);
    const expected: PushPayload = { v: 1, kind: 'new-message', conversationId, title: null };
    expect(JSON.parse(delivery!.payload)).toEqual(expected);
    expect(delivery!.payload).not.toContain('blood');
    expect(delivery!.payload).not.toContain(practice.clinician.displayName);
    expect(delivery!.payload).not.toContain(practice.name);
    expect(delivery!.urgency).toBe('high');
    expect(delivery!.ttl).toBe(86_400);
    const { publicKey } = await apiOk<{ publicKey: string }>(gateway.url, 'GET', '/api/push/vapid-public-key', {
      token: (await activatePatient(gateway.url, practice)).token,
    });
    expect(delivery!.vapidPublicKey).toBe(publicKey);
  });

  it('names the practice only when its manager chose to', async () => {
    const { conversationId, subscription } = await awayPatient();
    await setSettings({ showPracticeName: true, quietHours: null });

    await reply(conversationId);

    await waitUntil(() => deliveriesTo(subscription).length === 1, 'the push');
    expect(JSON.parse(deliveriesTo(subscription)[0]!.payload)).toEqual({ v: 1, kind: 'new-message', conversationId, title: practice.name });
  });

  it('sends nothing to a patient who is online', async () => {
    const { chat, conversationId, subscription } = await onlinePatient();

    await reply(conversationId);
    await waitUntil(() => chat.bodies().includes(REPLY), 'the online patient to read the reply');

    expect(deliveriesTo(subscription)).toEqual([]);
  });

  it('coalesces: one push for several replies until the patient has connected again', async () => {
    const { account, conversationId, subscription } = await awayPatient();

    await reply(conversationId, 'one');
    await reply(conversationId, 'two');
    await waitUntil(() => deliveriesTo(subscription).length === 1, 'the first push');
    await reply(conversationId, 'three');
    expect(deliveriesTo(subscription)).toHaveLength(1);

    const back = await patientChat(gateway.url, practice, account);
    await waitUntil(() => isConnected(account.userId), 'the patient to be back');
    await leave(account, back);
    await reply(conversationId, 'four');

    await waitUntil(() => deliveriesTo(subscription).length === 2, 'a second push after the patient came back and left');
  });

  it('holds a notice during quiet hours and sends it when they end', async () => {
    const { conversationId, subscription } = await awayPatient();
    const local = DateTime.fromJSDate(clock.now(), { zone: 'Europe/London' });
    const start = local.minus({ hours: 1 }).toFormat('HH:mm');
    const end = local.plus({ hours: 1 }).toFormat('HH:mm');
    await setSettings({ showPracticeName: false, quietHours: { start, end } });

    await reply(conversationId);
    await dispatcher.sweepHeld();
    expect(deliveriesTo(subscription)).toEqual([]);

    clock.advance(61 * 60_000);
    await dispatcher.sweepHeld();
    await waitUntil(() => deliveriesTo(subscription).length === 1, 'the held push once quiet hours ended');
    expect(JSON.parse(deliveriesTo(subscription)[0]!.payload)).toMatchObject({ conversationId, title: null });
  });

  it('deletes the subscription at sign-out and sends nothing after', async () => {
    const { account, conversationId, subscription } = await onlinePatient();
    expect(await subscriptionsOf(account.userId)).toBe(1);

    await apiOk(gateway.url, 'POST', '/api/auth/sign-out', { token: account.token }, 204);
    await waitUntil(async () => !(await isConnected(account.userId)), 'the patient to be gone');
    await reply(conversationId);

    expect(await subscriptionsOf(account.userId)).toBe(0);
    expect(deliveriesTo(subscription)).toEqual([]);
  });

  it("deletes a lost phone's subscription when the patient revokes it from another device, and keeps the other's", async () => {
    const account = await activatePatient(gateway.url, practice);
    const tablet = await signIn(gateway.url, { practice: practice.odsCode, login: account.nhsNumber });
    await apiOk(gateway.url, 'PUT', '/api/push/subscription', { token: account.token, body: pushService.subscribe() });
    await apiOk(gateway.url, 'PUT', '/api/push/subscription', { token: tablet.token, body: pushService.subscribe() });
    expect(await subscriptionsOf(account.userId)).toBe(2);

    await apiOk(gateway.url, 'POST', `/api/devices/${account.deviceId}/revoke`, { token: tablet.token });

    const left = await gateway.dataSource.query(`SELECT device_id FROM push_subscriptions WHERE user_id = $1`, [account.userId]);
    expect(left).toEqual([{ device_id: tablet.session.deviceId }]);
  });

  it('rotates the VAPID key: subscriptions made under the old key are dropped, and a device subscribed again gets pushes signed with the new one', async () => {
    const { account, conversationId, subscription } = await awayPatient();
    const before = await apiOk<{ publicKey: string }>(gateway.url, 'GET', '/api/push/vapid-public-key', { token: account.token });

    const rotated = await rotateVapidKey(gateway.dataSource);

    expect(rotated.subscriptionsDropped).toBeGreaterThanOrEqual(1);
    expect(await subscriptionsOf(account.userId)).toBe(0);
    const after = await apiOk<{ publicKey: string }>(gateway.url, 'GET', '/api/push/vapid-public-key', { token: account.token });
    expect(after.publicKey).toBe(rotated.publicKey);
    expect(after.publicKey).not.toBe(before.publicKey);
    await apiOk(gateway.url, 'PUT', '/api/push/subscription', { token: account.token, body: subscription });
    await reply(conversationId);
    await waitUntil(() => deliveriesTo(subscription).length === 1, 'a push under the new key');
    expect(deliveriesTo(subscription)[0]!.vapidPublicKey).toBe(rotated.publicKey);
  });

  it('deletes a subscription the push service says is gone (410)', async () => {
    const { account, conversationId, subscription } = await awayPatient();
    pushService.answerWith(subscription.endpoint, 410);

    await reply(conversationId);

    await waitUntil(async () => (await subscriptionsOf(account.userId)) === 0, 'the subscription to be deleted');
    pushService.answerWith(subscription.endpoint, null);
  });

  it('answers the clinician and keeps the message when the push service is down', async () => {
    const { account, conversationId, subscription } = await awayPatient();
    pushService.answerAllWith(500);

    await reply(conversationId, 'Kept while the push service fails');

    expect(deliveriesTo(subscription)).toEqual([]);
    expect(await subscriptionsOf(account.userId)).toBe(1);
    const back = await patientChat(gateway.url, practice, account);
    chats.push(back);
    await follow(back, conversationId);
    await waitUntil(() => back.bodies().includes('Kept while the push service fails'), 'the patient to read the reply');
  });

  describe('bad input', () => {
    let patient: TestPatient;
    beforeAll(async () => {
      patient = await activatePatient(gateway.url, practice);
    });

    it.each([
      ['no keys', (sub: PushServiceSubscription) => ({ endpoint: sub.endpoint })],
      ['an unknown field', (sub: PushServiceSubscription) => ({ ...sub, expirationTime: null })],
      ['a short p256dh', (sub: PushServiceSubscription) => ({ ...sub, keys: { ...sub.keys, p256dh: sub.keys.p256dh.slice(0, 40) } })],
      ['a 20-byte auth', (sub: PushServiceSubscription) => ({ ...sub, keys: { ...sub.keys, auth: Buffer.alloc(20, 1).toString('base64url') } })],
      ['http to a host that is not loopback', (sub: PushServiceSubscription) => ({ ...sub, endpoint: 'http://push.example/abc' })],
      ['an endpoint on the private network', (sub: PushServiceSubscription) => ({ ...sub, endpoint: 'https://10.1.2.3/push/abc' })],
      ['not a URL', (sub: PushServiceSubscription) => ({ ...sub, endpoint: 'push me' })],
    ])('refuses a subscription with %s as invalid_payload and stores nothing', async (_what, make) => {
      const response = await api<{ error: { code: string } }>(gateway.url, 'PUT', '/api/push/subscription', {
        token: patient.token,
        body: make(pushService.subscribe()),
      });

      expect(response.status).toBe(400);
      expect(response.body.error.code).toBe('invalid_payload');
      expect(await subscriptionsOf(patient.userId)).toBe(0);
    });

    it('refuses staff a VAPID key and a subscription (forbidden) and stores nothing', async () => {
      const key = await api<{ error: { code: string } }>(gateway.url, 'GET', '/api/push/vapid-public-key', { token: practice.clinician.token });
      const put = await api<{ error: { code: string } }>(gateway.url, 'PUT', '/api/push/subscription', {
        token: practice.clinician.token,
        body: pushService.subscribe(),
      });

      expect([key.status, key.body.error.code]).toEqual([403, 'forbidden']);
      expect([put.status, put.body.error.code]).toEqual([403, 'forbidden']);
      expect(await subscriptionsOf(practice.clinician.userId)).toBe(0);
    });

    it('refuses a call without a session (unauthorized)', async () => {
      const response = await api<{ error: { code: string } }>(gateway.url, 'PUT', '/api/push/subscription', { body: pushService.subscribe() });

      expect([response.status, response.body.error.code]).toEqual([401, 'unauthorized']);
    });

    it("deletes only the caller's own device's subscription", async () => {
      const other = await activatePatient(gateway.url, practice);
      await apiOk(gateway.url, 'PUT', '/api/push/subscription', { token: other.token, body: pushService.subscribe() });

      await apiOk(gateway.url, 'DELETE', '/api/push/subscription', { token: patient.token });

      expect(await subscriptionsOf(other.userId)).toBe(1);
      await apiOk(gateway.url, 'DELETE', '/api/push/subscription', { token: other.token });
      expect(await subscriptionsOf(other.userId)).toBe(0);
    });

    it('replaces the device subscription rather than adding one', async () => {
      await apiOk(gateway.url, 'PUT', '/api/push/subscription', { token: patient.token, body: pushService.subscribe() });
      await apiOk(gateway.url, 'PUT', '/api/push/subscription', { token: patient.token, body: pushService.subscribe() });

      expect(await subscriptionsOf(patient.userId)).toBe(1);
      await apiOk(gateway.url, 'DELETE', '/api/push/subscription', { token: patient.token });
    });

    it('offers push only, and refuses a contact for a channel that is not configured', async () => {
      const channels = await apiOk(gateway.url, 'GET', '/api/notifications/channels', { token: patient.token });
      const contact = await api<{ error: { code: string } }>(gateway.url, 'PUT', '/api/notifications/contact', {
        token: patient.token,
        body: { channel: 'sms', address: '+447700900123' },
      });

      expect(channels).toEqual({ push: true, sms: false, email: false });
      expect([contact.status, contact.body.error.code]).toEqual([403, 'forbidden']);
      expect(Number((await gateway.dataSource.query(`SELECT count(*)::int AS n FROM notification_contacts`))[0].n)).toBe(0);
    });

    it('lets only managers change the settings, and refuses bad quiet hours', async () => {
      const byPatient = await api<{ error: { code: string } }>(gateway.url, 'PUT', '/api/practice/notification-settings', {
        token: patient.token,
        body: { showPracticeName: true, quietHours: null },
      });
      const badHours = await api<{ error: { code: string } }>(gateway.url, 'PUT', '/api/practice/notification-settings', {
        token: practice.manager.token,
        body: { showPracticeName: true, quietHours: { start: '25:00', end: '07:00' } },
      });

      expect([byPatient.status, byPatient.body.error.code]).toEqual([403, 'forbidden']);
      expect([badHours.status, badHours.body.error.code]).toEqual([400, 'invalid_payload']);
      expect(await apiOk(gateway.url, 'GET', '/api/practice/notification-settings', { token: patient.token })).toEqual({
        showPracticeName: false,
        quietHours: null,
      });
    });
  });
});
