import type { Browser, BrowserContext, Page, Route } from 'playwright-core';
import {
  certifyStaffDevice,
  createRecordKey,
  generateDeviceKeys,
  generatePracticeRootKey,
  keyId,
  ready,
  signAccountKey,
  signInvitation,
  toBase64,
  type SigningKeys,
} from '@parley/crypto';
import type { AccountEnrolment, DeviceInfo, InvitationDetails, PracticeKeys, SessionInfo } from '@parley/protocol';
import { HttpApi } from '@parley/client';
import { certifiedRecordKey, publishRevocations, RevocationState, rotateRecordKey } from '@parley/sdk';
import { launchChromium } from '@parley/testing';
import { eventually, startPractice, type TestPractice } from './practice.js';
import { PHONE, readVault, unlock } from './screens.js';

const PASSPHRASE = 'copper harbour lantern violin meadow orbit';
const UNTRUSTED_INVITATION = 'This invitation does not match its code. Do not continue: phone the practice.';
const UNTRUSTED_ACCOUNT = 'Your account key does not match your key backup. Do not continue: phone the practice.';
const UNTRUSTED_RECORD_KEY = 'record key could not be verified; your message was not sent. Phone the practice.';

/** A JSON answer the attacker rewrites; null lets the real answer through. */
type Tamper = ((body: never) => unknown) | null;

/** A socket.io event the page sent: `42[name, payload]`, with an optional ack id after the 42. */
function socketEvent(frame: string | Buffer): { name: string; payload: unknown } | null {
  const match = /^42\d*(\[[\s\S]*\])$/.exec(typeof frame === 'string' ? frame : frame.toString('utf8'));
  if (!match) return null;
  const [name, payload] = JSON.parse(match[1]!) as [string, unknown];
  return { name, payload };
}

interface OpenFrame {
  conversationId: string;
  envelopes: { recipient: { kind: string; deviceId?: string; version?: number }; recipientKeyId: string }[];
}

/**
 * The adversarial-server suite, Chromium half: the server is the attacker. Its answers are rewritten
 * in the browser's network layer (Playwright routes: the real gateway answers, the test changes the
 * JSON before the page sees it), and the real patient app must refuse every attack, say so in words,
 * and seal nothing to a key the server slipped in.
 */
describe('adversarial server: the patient app (Chromium, real gateway, rewritten answers)', () => {
  const tally = { attacks: 0, refused: 0 };
  /** Runs one attack; it counts as refused only if every check of the refusal held. */
  const attack = async (run: () => Promise<void>) => {
    tally.attacks += 1;
    await run();
    tally.refused += 1;
  };

  let practice: TestPractice;
  let browser: Browser;
  let phone: BrowserContext;
  let page: Page;
  let laptop: BrowserContext;
  let other: Page;
  /** Record key version 2 (after a rotation): the newest the real root vouches for. */
  let newest: { version: number; boxPublicKey: Uint8Array };
  const tampers = new Map<string, Tamper>();
  const hits = new Map<string, number>();
  const requests: { method: string; path: string }[] = [];
  const sentEvents: { name: string; payload: unknown }[] = [];
  /** The attacker's own practice root key. */
  let fakeRoot: SigningKeys;
  const EXPECTED_ERRORS = /status of 401/;
  const consoleErrors: string[] = [];

  /** Answers `path` through the real gateway, with the JSON body rewritten while a tamper is set for it. */
  const intercept = async (context: BrowserContext, path: string) => {
    await context.route(`**${path}`, async (route: Route) => {
      const tamper = tampers.get(path) ?? null;
      if (!tamper) return route.continue();
      const response = await route.fetch();
      const body = (await response.json()) as never;
      hits.set(path, (hits.get(path) ?? 0) + 1);
      await route.fulfill({ response, json: response.ok() ? tamper(body) : body });
    });
  };
  const hitsOf = (path: string) => hits.get(path) ?? 0;
  const watch = (target: Page) => {
    target.on('request', (request) => {
      const url = new URL(request.url());
      if (url.pathname.startsWith('/api/')) requests.push({ method: request.method(), path: url.pathname });
    });
    target.on('websocket', (socket) =>
      socket.on('framesent', ({ payload }) => {
        const event = socketEvent(payload);
        if (event) sentEvents.push(event);
      }),
    );
    target.on('console', (message) => message.type() === 'error' && !EXPECTED_ERRORS.test(message.text()) && consoleErrors.push(message.text()));
    target.on('pageerror', (error) => consoleErrors.push(`uncaught: ${error.message}`));
  };
  const opened = () => sentEvents.filter((event) => event.name === 'conversation:open').map((event) => event.payload as OpenFrame);
  const startConversation = async (target: Page) => {
    await target.getByRole('group', { name: 'What is it about?' }).getByRole('radio').first().check();
    await target.getByRole('button', { name: 'Start conversation' }).click();
  };
  /** Sends the invitation form again (its fields stay filled) and waits for the answer the attacker rewrote. */
  const submitInvitation = async () => {
    const before = hitsOf('/api/auth/invitation');
    await page.getByRole('button', { name: 'Continue' }).click();
    await eventually(() => hitsOf('/api/auth/invitation') > before, 'the lookup was answered');
  };
  const refusedInvitation = async () => {
    await page.getByRole('alert').filter({ hasText: UNTRUSTED_INVITATION }).waitFor({ timeout: 30_000 });
    expect(await page.getByRole('heading', { name: 'Activate your account' }).count()).toBe(1);
    expect(requests.filter((request) => request.path === '/api/auth/activate')).toEqual([]);
  };
  const b64 = (bytes: Uint8Array) => toBase64(bytes);

  beforeAll(async () => {
    await ready();
    fakeRoot = generatePracticeRootKey();
    [practice, browser] = await Promise.all([startPractice(), launchChromium()]);
    // Each attack opens a conversation for the one patient: lift the per-patient limits (the gateway's patient-limits e2e tests them).
    await practice.asManager('PUT', '/api/practice/patient-limits', { maxOpenPerPatient: null, maxNewPerPatientPerDay: null });
    const manager = practice.demo.staff.find((member) => member.roles.includes('manager'))!;
    const rotation = await rotateRecordKey({
      baseUrl: practice.url,
      token: practice.manager.token,
      odsCode: practice.odsCode,
      root: practice.demo.practice.root,
      granter: manager.device,
    });
    newest = { version: rotation.recordKey.version, boxPublicKey: rotation.recordKey.boxPublicKey };
    phone = await browser.newContext({ viewport: PHONE });
    laptop = await browser.newContext({ viewport: PHONE });
    for (const context of [phone, laptop]) {
      for (const path of ['/api/auth/invitation', '/api/auth/sign-in', '/api/keys/account', '/api/practice/keys', '/api/devices', '/api/practice/revocations'])
        await intercept(context, path);
    }
    page = await phone.newPage();
    watch(page);
    await page.goto(`${practice.url}/`);
    await page.getByRole('button', { name: 'I have an invitation code' }).click();
    await page.getByLabel('Practice code').fill(practice.odsCode);
    await page.getByLabel('Invitation code').fill(practice.patientCode);
    await page.getByLabel('Date of birth').fill(practice.credentials.patient.dateOfBirth);
  });

  afterAll(async () => {
    await browser?.close();
    await practice?.close();
    process.stdout.write(`adversarial-server (patient app): ${tally.attacks} attacks, ${tally.refused} refused\n`);
    expect(tally.refused).toBe(tally.attacks);
  });

  describe('activation: the invitation lookup', () => {
    afterEach(() => tampers.delete('/api/auth/invitation'));

    it('refuses an invitation whose answer names another practice root key', async () => {
      await attack(async () => {
        tampers.set('/api/auth/invitation', (body: InvitationDetails) => ({
          ...body,
          practice: { ...body.practice, rootSignPublicKey: b64(fakeRoot.signPublicKey) },
        }));

        await submitInvitation();

        await refusedInvitation();
      });
    });

    it('refuses an invitation whose inviting device the server renamed ("Dr" someone else)', async () => {
      await attack(async () => {
        tampers.set('/api/auth/invitation', (body: InvitationDetails) => ({
          ...body,
          invitation: { ...body.invitation!, creator: { ...body.invitation!.creator, certifiedAs: { displayName: 'Dr Someone Else', roles: ['clinician'] } } },
        }));

        await submitInvitation();

        await refusedInvitation();
      });
    });

    it('refuses an invitation whose creating device was swapped for one the server made, that signed it itself', async () => {
      await attack(async () => {
        tampers.set('/api/auth/invitation', (body: InvitationDetails) => {
          const chain = body.invitation!;
          const device = generateDeviceKeys();
          const certifiedAs = { displayName: 'Dr Someone Else', roles: ['clinician' as const] };
          const fields = {
            practiceId: practice.odsCode,
            userId: chain.creator.userId,
            deviceId: chain.creator.deviceId,
            signPublicKey: device.signPublicKey,
            boxPublicKey: device.boxPublicKey,
            ...certifiedAs,
          };
          const invitationSignature = signInvitation(
            {
              practiceId: practice.odsCode,
              patientId: body.userId,
              invitationSignPublicKey: Buffer.from(chain.invitationSignPublicKey, 'base64'),
              expiresAt: chain.expiresAt,
            },
            device.signSecretKey,
          );
          return {
            ...body,
            invitation: {
              ...chain,
              invitationSignature: b64(invitationSignature),
              creator: {
                ...chain.creator,
                signPublicKey: b64(device.signPublicKey),
                boxPublicKey: b64(device.boxPublicKey),
                certifiedAs,
                certificate: b64(certifyStaffDevice(fields, fakeRoot.signSecretKey)),
              },
            },
          };
        });

        await submitInvitation();

        await refusedInvitation();
      });
    });

    it('refuses an invitation whose signature was swapped for one by another key', async () => {
      await attack(async () => {
        tampers.set('/api/auth/invitation', (body: InvitationDetails) => {
          const chain = body.invitation!;
          const forged = signInvitation(
            {
              practiceId: practice.odsCode,
              patientId: body.userId,
              invitationSignPublicKey: Buffer.from(chain.invitationSignPublicKey, 'base64'),
              expiresAt: chain.expiresAt,
            },
            generateDeviceKeys().signSecretKey,
          );
          return { ...body, invitation: { ...chain, invitationSignature: b64(forged) } };
        });

        await submitInvitation();

        await refusedInvitation();
      });
    });

    it('pins the root the code vouched for, with no second lookup a server could answer with another root', async () => {
      await attack(async () => {
        await page.getByRole('button', { name: 'Continue' }).click();
        await page.getByRole('heading', { name: 'Choose your passphrase' }).waitFor({ timeout: 30_000 });
        const lookups = requests.filter((request) => request.path === '/api/auth/invitation').length;
        // From now on every lookup would name the attacker's root.
        tampers.set('/api/auth/invitation', (body: InvitationDetails) => ({
          ...body,
          practice: { ...body.practice, rootSignPublicKey: b64(fakeRoot.signPublicKey) },
        }));

        await page.getByLabel('Passphrase', { exact: true }).fill(PASSPHRASE);
        await page.getByLabel('I have written my passphrase down').check();
        await page.getByRole('button', { name: 'Create my account' }).click();
        await page.getByRole('heading', { name: /^Hello/ }).waitFor({ timeout: 30_000 });

        expect(requests.filter((request) => request.path === '/api/auth/invitation')).toHaveLength(lookups);
        expect((await readVault(page, PASSPHRASE)).pinnedRoot).toBe(b64(practice.demo.practice.root.signPublicKey));
      });
    });
  });

  describe('a device that has seen record key version 2', () => {
    afterEach(() => {
      tampers.delete('/api/practice/keys');
      tampers.delete('/api/devices');
    });

    it('seals a new conversation to the newest record key and remembers its version', async () => {
      await startConversation(page);
      await page.getByText('Waiting for a clinician.').waitFor({ timeout: 30_000 });

      const records = opened()
        .at(-1)!
        .envelopes.filter((envelope) => envelope.recipient.kind === 'record');
      expect(records.map((envelope) => envelope.recipient.version)).toEqual([newest.version]);
      expect(records.map((envelope) => envelope.recipientKeyId)).toEqual([b64(keyId(newest.boxPublicKey))]);
      expect((await readVault(page, PASSPHRASE)).recordKeyFloor).toBe(newest.version);
      await page.getByRole('button', { name: '← Back to home' }).click();
    });

    it('refuses to seal to an older record key served as the newest, even after a reload', async () => {
      await attack(async () => {
        const opens = opened().length;
        await page.reload();
        await unlock(page, PASSPHRASE);
        await page.getByRole('heading', { name: /^Hello/ }).waitFor({ timeout: 30_000 });
        tampers.set('/api/practice/keys', (body: PracticeKeys) => ({ ...body, recordKeys: body.recordKeys.filter((key) => key.version < newest.version) }));

        await startConversation(page);

        await page.getByRole('alert').filter({ hasText: UNTRUSTED_RECORD_KEY }).waitFor({ timeout: 30_000 });
        expect(hitsOf('/api/practice/keys')).toBeGreaterThan(0);
        expect(opened()).toHaveLength(opens);
      });
    });

    it('refuses an older revocation list than it verified before, even after a reload (the version is kept in the vault)', async () => {
      const api = new HttpApi({ baseUrl: practice.url, token: practice.manager.token });
      const state = new RevocationState({ api, practiceOdsCode: practice.odsCode, pinnedRoot: practice.demo.practice.root.signPublicKey });
      const sign = { signerSignPublicKey: practice.demo.practice.root.signPublicKey, signerSignSecretKey: practice.demo.practice.root.signSecretKey };
      await publishRevocations({ api, state, practiceOdsCode: practice.odsCode, add: [], ...sign });
      const older = await api.getRevocations();
      if (!older.ok || !older.data.list) throw new Error('the first list should be stored');
      const newer = await publishRevocations({ api, state, practiceOdsCode: practice.odsCode, add: [], ...sign });
      await page.reload();
      await unlock(page, PASSPHRASE);
      await page.getByRole('heading', { name: /^Hello/ }).waitFor({ timeout: 30_000 });
      await eventually(async () => (await readVault(page, PASSPHRASE)).revocationFloor === newer.version, 'the vault to keep the list version');

      await attack(async () => {
        tampers.set('/api/practice/revocations', () => ({ list: older.data.list }));
        const served = hitsOf('/api/practice/revocations');
        await page.reload();
        await unlock(page, PASSPHRASE);
        await eventually(() => hitsOf('/api/practice/revocations') > served, 'the rolled-back list to be served');
        const frames = sentEvents.length;
        await page.waitForTimeout(4_000);

        // The session never started: no socket command went out, and the vault still names the newer version.
        expect(sentEvents.length).toBe(frames);
        expect((await readVault(page, PASSPHRASE)).revocationFloor).toBe(newer.version);
      });
      tampers.delete('/api/practice/revocations');
      await page.reload();
      await unlock(page, PASSPHRASE);
      await page.getByRole('heading', { name: /^Hello/ }).waitFor({ timeout: 30_000 });
    });

    it("seals nothing to device rows the server added to the patient: no certificate, a garbage one, another device's", async () => {
      await attack(async () => {
        const injected: string[] = [];
        tampers.set('/api/devices', (body: DeviceInfo[]) => {
          const genuine = body.find((device) => device.certificate !== null)!;
          const forge = (certificate: string | null): DeviceInfo => {
            const keys = generateDeviceKeys();
            const id = crypto.randomUUID();
            injected.push(id);
            return {
              ...genuine,
              id,
              label: 'Injected',
              signPublicKey: b64(keys.signPublicKey),
              boxPublicKey: b64(keys.boxPublicKey),
              certificate,
              revokedAt: null,
            };
          };
          return [...body, forge(null), forge(b64(new Uint8Array(64).fill(7))), forge(genuine.certificate)];
        });
        const opens = opened().length;

        await startConversation(page);
        await page.getByText('Waiting for a clinician.').waitFor({ timeout: 30_000 });

        const sent = opened().slice(opens);
        expect(sent).toHaveLength(1);
        const devices = sent[0]!.envelopes.flatMap((envelope) => (envelope.recipient.kind === 'device' ? [envelope.recipient.deviceId] : []));
        // Three forged rows per listing (the home screen's device list asks too): none of them gets an envelope.
        expect(injected.length).toBeGreaterThanOrEqual(3);
        expect(devices.filter((id) => injected.includes(id!))).toEqual([]);
        expect(devices.length).toBeGreaterThan(0);
        await page.getByRole('button', { name: '← Back to home' }).click();
      });
    });
  });

  describe('signing in on a new device', () => {
    beforeAll(async () => {
      other = await laptop.newPage();
      watch(other);
      await other.goto(`${practice.url}/`);
      await other.getByRole('button', { name: 'Sign in' }).click();
      await other.getByLabel('Practice code').fill(practice.odsCode);
      await other.getByLabel('NHS number').fill(practice.credentials.patient.nhsNumber);
      await other.getByLabel('Passphrase').fill(PASSPHRASE);
    });

    afterEach(() => tampers.clear());

    /** Signs in with the filled form and waits for the account answer the attacker rewrote. */
    const submitSignIn = async () => {
      const before = hitsOf('/api/keys/account');
      await other.getByRole('button', { name: 'Sign in' }).click();
      await eventually(() => hitsOf('/api/keys/account') > before, 'the account keys were answered', 30_000);
    };
    const refusedSignIn = async () => {
      await other.getByRole('alert').filter({ hasText: UNTRUSTED_ACCOUNT }).waitFor({ timeout: 30_000 });
      expect(await other.getByRole('heading', { name: 'Sign in' }).count()).toBe(1);
      // The new device was never certified with the restored account key.
      expect(requests.filter((request) => request.method === 'PUT' && request.path.startsWith('/api/devices/'))).toEqual([]);
    };

    it('refuses another account key than the one in the key backup', async () => {
      await attack(async () => {
        const swapped = generateDeviceKeys();
        tampers.set('/api/keys/account', (body: AccountEnrolment) => ({
          ...body,
          account: { ...body.account, signPublicKey: b64(swapped.signPublicKey), boxPublicKey: b64(swapped.boxPublicKey) },
        }));

        await submitSignIn();

        await refusedSignIn();
      });
    });

    it("refuses the backup's account key when the server swapped its chain to the practice (a forged invitation signature)", async () => {
      await attack(async () => {
        tampers.set('/api/keys/account', (body: AccountEnrolment) => {
          const { account } = body;
          const forged = signAccountKey(
            {
              practiceId: practice.odsCode,
              patientId: account.userId,
              signPublicKey: Buffer.from(account.signPublicKey, 'base64'),
              boxPublicKey: Buffer.from(account.boxPublicKey, 'base64'),
            },
            generateDeviceKeys().signSecretKey,
          );
          return { ...body, account: { ...account, accountSignature: b64(forged) } };
        });

        await submitSignIn();

        await refusedSignIn();
      });
    });

    it("pins the root from the key backup, not the sign-in answer: a record key only the server's root vouches for is refused", async () => {
      await attack(async () => {
        const fake = certifiedRecordKey(practice.odsCode, createRecordKey(newest.version + 1), fakeRoot);
        tampers.set('/api/auth/sign-in', (body: SessionInfo) => ({ ...body, practice: { ...body.practice, rootSignPublicKey: b64(fakeRoot.signPublicKey) } }));
        tampers.set('/api/practice/keys', (body: PracticeKeys) => ({ ...body, rootSignPublicKey: b64(fakeRoot.signPublicKey), recordKeys: [{ ...fake }] }));
        const opens = opened().length;

        await other.getByRole('button', { name: 'Sign in' }).click();
        await other.getByRole('heading', { name: /^Hello/ }).waitFor({ timeout: 30_000 });
        await startConversation(other);

        await other.getByRole('alert').filter({ hasText: UNTRUSTED_RECORD_KEY }).waitFor({ timeout: 30_000 });
        expect(hitsOf('/api/auth/sign-in')).toBeGreaterThan(0);
        expect(opened()).toHaveLength(opens);
        expect((await readVault(other, PASSPHRASE)).pinnedRoot).toBe(b64(practice.demo.practice.root.signPublicKey));
      });
    });

    it("seals nothing to a higher record key version only the server's root vouches for", async () => {
      await attack(async () => {
        const fakeKey = createRecordKey(newest.version + 1);
        const fake = certifiedRecordKey(practice.odsCode, fakeKey, fakeRoot);
        tampers.set('/api/practice/keys', (body: PracticeKeys) => ({ ...body, recordKeys: [...body.recordKeys, { ...fake }] }));
        const opens = opened().length;
        const served = hitsOf('/api/practice/keys');

        await startConversation(other);
        await other.getByText('Waiting for a clinician.').waitFor({ timeout: 30_000 });

        expect(hitsOf('/api/practice/keys')).toBeGreaterThan(served);
        const sent = opened().slice(opens);
        expect(sent).toHaveLength(1);
        const keyIds = sent[0]!.envelopes.map((envelope) => envelope.recipientKeyId);
        const records = sent[0]!.envelopes.filter((envelope) => envelope.recipient.kind === 'record');
        expect(keyIds).not.toContain(b64(keyId(fakeKey.boxPublicKey)));
        expect(records.map((envelope) => [envelope.recipient.version, envelope.recipientKeyId])).toEqual([[newest.version, b64(keyId(newest.boxPublicKey))]]);
      });
    });
  });

  it('never broke the content security policy or logged an unexpected error', () => {
    expect(consoleErrors).toEqual([]);
  });
});
