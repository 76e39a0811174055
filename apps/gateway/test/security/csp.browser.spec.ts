import { INVITATION_KDF_PARAMS, ready } from '@parley/crypto';
import { launchChromium } from '@parley/testing';
import { startTestApp, type TestApp } from '../app.js';
import { follow, staffChat, type Chatter } from '../chat.js';
import { apiOk, connectAs, createPracticeWithStaff, invitePatient, type TestPractice } from '../factories.js';
import { waitUntil } from '../wait.js';

/**
 * Both web clients, as the gateway serves them (build them first: `npx turbo run build`), in Chromium
 * under the gateway's real Content-Security-Policy with Trusted Types enforced. The patient app is
 * driven through activation (Argon2id, key generation and sealing: libsodium's WebAssembly under
 * 'wasm-unsafe-eval') into a conversation where the clinician's message is markup and script.
 */
// playwright-core is @parley/testing's dependency, not the gateway's: its types come through launchChromium.
type Browser = Awaited<ReturnType<typeof launchChromium>>;
type Page = Awaited<ReturnType<Browser['newPage']>>;

const PASSPHRASE = 'lantern orbit meadow copper violin harbour';
const HOSTILE = `<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script><b>bold</b> & "quotes"`;

interface Violation {
  directive: string;
  sample: string;
  source: string;
}

/** The page's globals as the functions run in Chromium use them (the gateway's tsconfig has no DOM types). */
interface PageGlobals {
  document: {
    addEventListener(
      type: 'securitypolicyviolation',
      listener: (event: { violatedDirective: string; sample: string; sourceFile: string; lineNumber: number }) => void,
    ): void;
    createElement(tag: string): { innerHTML: unknown };
  };
  trustedTypes: { createPolicy(name: string, rules: object): unknown };
  __violations?: Violation[];
  __pwned?: number;
}

/** Collects every CSP or Trusted Types violation the page reports, from before its first script runs; uncaught Trusted Types errors too. */
async function watchViolations(page: Page, into: string[]): Promise<void> {
  await page.addInitScript(() => {
    const page = globalThis as unknown as PageGlobals;
    page.document.addEventListener('securitypolicyviolation', (event) => {
      const list = (page.__violations ??= []);
      list.push({ directive: event.violatedDirective, sample: event.sample, source: `${event.sourceFile}:${event.lineNumber}` });
    });
  });
  page.on('pageerror', (error: Error) => {
    if (/Trusted|Content Security Policy/i.test(error.message)) into.push(error.message);
  });
}

// zod would probe `new Function` once and be reported here; @parley/protocol turns the probe off in browsers.
const violationsIn = (page: Page): Promise<Violation[]> => page.evaluate(() => (globalThis as unknown as PageGlobals).__violations ?? []);

describe('the web clients under the strict content security policy (Chromium, real gateway)', () => {
  let gateway: TestApp;
  let practice: TestPractice;
  let browser: Browser;
  let clinician: Chatter | undefined;
  const violations: string[] = [];

  beforeAll(async () => {
    await ready();
    [gateway, browser] = await Promise.all([startTestApp(), launchChromium()]);
    practice = await createPracticeWithStaff(gateway);
    await apiOk(gateway.url, 'POST', '/api/practice/terms', { token: practice.manager.token, body: { text: 'Messages are for non-urgent matters.' } }, 201);
  }, 120_000);

  afterAll(async () => {
    await clinician?.session.close();
    await browser?.close();
    await gateway?.close();
  });

  it('serves both apps with the policy: scripts only from itself, no inline script, Trusted Types required', async () => {
    for (const path of ['/', '/staff/']) {
      const response = await fetch(`${gateway.url}${path}`);
      const policy = response.headers.get('content-security-policy') ?? '';

      expect(response.status).toBe(200);
      expect(policy).toContain("script-src 'self' 'wasm-unsafe-eval'");
      expect(policy).not.toContain('unsafe-inline');
      expect(policy).toContain("require-trusted-types-for 'script'");
      expect(policy).toContain('trusted-types svelte-trusted-html');
      expect(response.headers.get('strict-transport-security')).toMatch(/max-age=\d{8}/);
      expect(response.headers.get('x-content-type-options')).toBe('nosniff');
      expect(response.headers.get('referrer-policy')).toBe('no-referrer');
      expect(policy).toContain("frame-ancestors 'none'");
      expect(await response.text()).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    }
  });

  it("marks every API answer no-store, refusals included, and leaves the apps' files cacheable", async () => {
    const answers = await Promise.all(
      ['/api/version', '/api/practice/keys', '/health/ready', '/api/no-such-route'].map((path) => fetch(`${gateway.url}${path}`)),
    );
    const app = await fetch(`${gateway.url}/`);

    expect(answers.map((response) => response.headers.get('cache-control'))).toEqual(['no-store', 'no-store', 'no-store', 'no-store']);
    expect(app.headers.get('cache-control') ?? '').not.toContain('no-store');
  });

  it('loads the staff app without a violation', async () => {
    const page = await browser.newPage();
    await watchViolations(page, violations);
    await page.goto(`${gateway.url}/staff/`);
    await page.getByRole('heading', { level: 1 }).waitFor();

    expect(await violationsIn(page)).toEqual([]);
    expect(violations).toEqual([]);
    // Enforced, not just announced: a string into an HTML sink, or a policy of one's own, is refused.
    const sinks = await page.evaluate(() => {
      const attempt = (action: () => void) => {
        try {
          action();
          return 'allowed';
        } catch {
          return 'refused';
        }
      };
      return {
        innerHTML: attempt(() => ((globalThis as unknown as PageGlobals).document.createElement('div').innerHTML = '<img src=x>')),
        policy: attempt(() => (globalThis as unknown as PageGlobals).trustedTypes.createPolicy('mine', {})),
      };
    });
    expect(sinks).toEqual({ innerHTML: 'refused', policy: 'refused' });
    await page.close();
  });

  it('activates a patient (libsodium in the page), and shows a message of markup and script as plain text, with no violation', async () => {
    // The patient app derives from the code at the real invitation cost, so the staff side must too.
    const invitation = await invitePatient(gateway.url, practice.clinician, practice, { kdf: INVITATION_KDF_PARAMS });
    const page = await browser.newPage();
    await watchViolations(page, violations);
    await page.goto(`${gateway.url}/`);
    await page.getByRole('button', { name: 'I have an invitation code' }).click();
    await page.getByLabel('Practice code').fill(practice.odsCode);
    await page.getByLabel('Invitation code').fill(invitation.code);
    await page.getByLabel('Date of birth').fill(invitation.dateOfBirth);
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByRole('heading', { name: 'Choose your passphrase' }).waitFor();
    await page.getByLabel('Passphrase', { exact: true }).fill(PASSPHRASE);
    await page.getByText('Strong enough.').waitFor();
    await page.getByLabel('I have written my passphrase down').check();
    await page.getByRole('button', { name: 'Create my account' }).click();
    await page.getByLabel('I have read and accept these terms').check({ timeout: 60_000 });
    await page.getByRole('button', { name: 'Accept and continue' }).click();
    await page.getByRole('group', { name: 'What is it about?' }).getByRole('radio').first().check();
    await page.getByRole('button', { name: 'Start conversation' }).click();

    // Staff trust the patient's account key through the invitation; the clinician answers with markup and script.
    const manager = await connectAs(gateway.url, practice.manager, 10_000);
    let conversationId = '';
    await waitUntil(
      async () => {
        const listed = await manager.request('conversation:list', {});
        conversationId = listed.ok ? (listed.data.conversations.find((summary) => summary.patientId === invitation.userId)?.id ?? '') : '';
        return conversationId !== '';
      },
      'the patient to open a conversation',
      30_000,
    );
    manager.close();
    clinician = await staffChat(gateway.url, practice, practice.clinician);
    await follow(clinician, conversationId);
    await clinician.session
      .conversation(conversationId)
      .claim()
      .catch(() => undefined);
    const sent = await clinician.session.conversation(conversationId).send(HOSTILE);
    const messages = page.getByRole('list', { name: 'Messages' });
    await messages.getByText(HOSTILE, { exact: true }).waitFor({ timeout: 30_000 });

    expect(sent.ok).toBe(true);
    expect(await messages.locator('img, script, b').count()).toBe(0);
    expect(await page.evaluate(() => (globalThis as unknown as PageGlobals).__pwned)).toBeUndefined();
    expect(await violationsIn(page)).toEqual([]);
    expect(violations).toEqual([]);
    await page.close();
  }, 180_000);
});
