import { ParleyClient } from '@parley/client';
import { readFile } from 'node:fs/promises';
import { request, type IncomingHttpHeaders } from 'node:http';
import { join } from 'node:path';
import { startTestApp, type TestApp } from '../app.js';
import { createPracticeWithManager, type TestStaff } from '../factories.js';

// The staff app on its own origin (STAFF_PUBLIC_URL, docs/operations.md "Two origins"): the gateway routes by the Host
// header a browser sends for the address it loads, as nginx passes it on ($host: the name, without the port). Requests
// here go to the gateway's loopback port with the Host of each public name, as they arrive behind the proxy.
const PATIENT_HOST = 'chat.parley.test';
const STAFF_HOST = 'staff.parley.test';
const REPOSITORY = join(import.meta.dirname, '..', '..', '..', '..');

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

describe('the staff app on its own origin (STAFF_PUBLIC_URL, host-based routing)', () => {
  let gateway: TestApp;
  let manager: TestStaff;
  let patientIndex: string;
  let staffIndex: string;
  const clients: ParleyClient[] = [];

  /** GET `path` from the gateway with `host` as the Host header (a browser's, or nginx's `$host`). */
  const get = (host: string, path: string): Promise<Answer> => {
    const { hostname, port } = new URL(gateway.url);
    return new Promise((resolve, reject) => {
      const outgoing = request({ host: hostname, port, path, headers: { host }, agent: false }, (response) => {
        let body = '';
        response.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
        response.once('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body }));
      });
      outgoing.once('error', reject);
      outgoing.end();
    });
  };
  /** The first hashed script an index.html loads, as a path from the app's root (`/assets/index-….js`). */
  const scriptOf = (index: string) => `/${index.match(/src="(?:\.\/|\/)(assets\/[\w.-]+\.js)"/)![1]}`;
  const connect = async (headers: Record<string, string>) => {
    const client = await ParleyClient.connect({ url: gateway.url, token: manager.token, extraHeaders: headers, requestTimeoutMs: 2_000 });
    clients.push(client);
    return client;
  };

  beforeAll(async () => {
    gateway = await startTestApp({ PUBLIC_URL: `https://${PATIENT_HOST}`, STAFF_PUBLIC_URL: `https://${STAFF_HOST}` });
    manager = (await createPracticeWithManager(gateway)).manager;
    // The built apps (`npx turbo run build`), read from disk to tell which one an answer is.
    const builtIndex = (app: string) => readFile(join(REPOSITORY, 'apps', app, 'dist', 'index.html'), 'utf8');
    [patientIndex, staffIndex] = await Promise.all([builtIndex('patient'), builtIndex('staff')]);
  });

  afterAll(async () => {
    for (const client of clients) client.close();
    await gateway?.close();
  });

  it("names the patient app's address on both origins, for invitation links made on the staff origin", async () => {
    const answers = await Promise.all(
      [STAFF_HOST, PATIENT_HOST].map(async (host) => JSON.parse((await get(host, '/api/version')).body) as { patientAppUrl: string }),
    );

    expect(answers.map((answer) => answer.patientAppUrl)).toEqual([`https://${PATIENT_HOST}/`, `https://${PATIENT_HOST}/`]);
  });

  it('serves the staff app at / of the staff origin, and neither the patient app nor /staff/ there', async () => {
    const root = await get(STAFF_HOST, '/');
    const script = await get(STAFF_HOST, scriptOf(staffIndex));
    const patientScript = await get(STAFF_HOST, scriptOf(patientIndex));
    const oldPath = await get(STAFF_HOST, '/staff/');

    expect(root.status).toBe(200);
    expect(root.body).toBe(staffIndex);
    expect(script.status).toBe(200);
    expect(patientScript.status).toBe(404);
    expect(oldPath.status).toBe(404);
  });

  it('never serves the staff app on the patient origin or any other host: /staff/ and its files are 404 there', async () => {
    const ipHost = new URL(gateway.url).host;
    for (const host of [PATIENT_HOST, ipHost, `${STAFF_HOST}.evil.example`]) {
      const root = await get(host, '/');
      const staffPage = await get(host, '/staff/');
      const staffScript = await get(host, `/staff${scriptOf(staffIndex)}`);
      const staffScriptAtRoot = await get(host, scriptOf(staffIndex));

      expect([host, root.status, root.body === patientIndex]).toEqual([host, 200, true]);
      expect([host, staffPage.status, staffScript.status, staffScriptAtRoot.status]).toEqual([host, 404, 404, 404]);
    }
  });

  it('routes by the host name whatever its case or port', async () => {
    const answers = await Promise.all([`STAFF.Parley.Test`, `${STAFF_HOST}:443`, `${STAFF_HOST}:8443`].map((host) => get(host, '/')));

    expect(answers.map((answer) => answer.body === staffIndex)).toEqual([true, true, true]);
  });

  it('answers the API on both origins, with no cache', async () => {
    const answers = await Promise.all([PATIENT_HOST, STAFF_HOST].map((host) => get(host, '/api/version')));

    expect(answers.map((answer) => answer.status)).toEqual([200, 200]);
    expect(answers.map((answer) => answer.headers['cache-control'])).toEqual(['no-store', 'no-store']);
    expect(answers.map((answer) => JSON.parse(answer.body).protocolVersion)).toEqual([expect.any(Number), JSON.parse(answers[0]!.body).protocolVersion]);
  });

  it("gives each origin a policy that lets its pages connect only to that origin and keeps its files from other origins' pages", async () => {
    const pages = await Promise.all([get(PATIENT_HOST, '/'), get(STAFF_HOST, '/')]);

    for (const page of pages) {
      const directives = String(page.headers['content-security-policy']).split(/;\s*/);
      expect(directives.filter((directive) => directive.startsWith('connect-src'))).toEqual(["connect-src 'self'"]);
      expect(directives).toContain("default-src 'self'");
      expect(page.headers['cross-origin-resource-policy']).toBe('same-origin');
      expect(page.headers['set-cookie']).toBeUndefined();
    }
  });

  it('accepts a socket from the staff origin, as the browser and as nginx send it, and refuses one from an unknown origin', async () => {
    const fromBrowser = await connect({ origin: `https://${STAFF_HOST}`, host: STAFF_HOST });
    // nginx's $host drops a non-default port, so the Origin no longer names the Host: STAFF_PUBLIC_URL's origin is allowed by name.
    const throughProxy = await connect({ origin: `https://${STAFF_HOST}`, host: new URL(gateway.url).host });

    const unknown = connect({ origin: 'https://staff.evil.example', host: STAFF_HOST });

    expect(fromBrowser.isConnected).toBe(true);
    expect(throughProxy.isConnected).toBe(true);
    await expect(unknown).rejects.toThrow();
  });
});
