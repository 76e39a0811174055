// The web clients' first load in Chromium over a throttled phone network (issue #22), next to a baseline measured in
// the same run: the same build from the same gateway, fetched uncompressed (Accept-Encoding: identity) and with the
// browser cache off, which is how the gateway served it before. Writes its section of docs/benchmarks.md (between
// the first-load markers) and results/first-load.json.
//
//   pnpm --filter @parley/bench build && node packages/bench/dist/first-load.js [--runs 3]
import { execFileSync } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchChromium, startTestGateway } from '@parley/testing';
import { FIRST_LOAD_SECTION, withSection } from './doc-sections.js';

type Browser = Awaited<ReturnType<typeof launchChromium>>;

/** Chromium DevTools' throttling: bytes per second each way, and latency added to every request (ms). */
interface Profile {
  name: string;
  label: string;
  downloadBps: number;
  uploadBps: number;
  latencyMs: number;
}

const PROFILES: Profile[] = [
  // Issue #22's slow 3G: 400 kbit/s, 400 ms round trip.
  { name: 'slow-3g', label: 'slow 3G (400 kbit/s, 400 ms)', downloadBps: 400_000 / 8, uploadBps: 400_000 / 8, latencyMs: 400 },
  // DevTools' "Fast 3G" preset: 1.6 Mbit/s down and 750 kbit/s up at 90 %, 150 ms × 3.75.
  { name: 'fast-3g', label: 'fast 3G (1.44 Mbit/s, 563 ms)', downloadBps: (1_600_000 / 8) * 0.9, uploadBps: (750_000 / 8) * 0.9, latencyMs: 562.5 },
];

interface App {
  name: string;
  path: string;
  /** The landing screen's heading, as it reads once the app has started. */
  heading: string;
  /** The element the person acts on first: once it is there (and the page's load event has fired) the page is usable. */
  action: string;
}

const APPS: App[] = [
  { name: 'patient', path: '/', heading: 'Message your GP practice', action: 'main button.primary' },
  { name: 'staff', path: '/staff/', heading: 'Practice console', action: 'main button[type="submit"]' },
];

type Variant = 'as built' | 'baseline';

interface Load {
  /** First byte of the navigation to the landing heading in the DOM (ms). */
  headingMs: number;
  /** To the action element in the DOM and the load event fired (ms). */
  interactiveMs: number;
  /** To the last byte of every request the page made before anyone acted (ms). */
  settledMs: number;
  /** Bytes on the wire (headers and bodies, compressed where they were). */
  wireBytes: number;
  requests: number;
  /** Requests answered from the network rather than the browser cache. */
  fromNetwork: number;
  /** Files under assets/ fetched from the network. */
  assetsFromNetwork: number;
}

interface Row {
  app: string;
  profile: string;
  variant: Variant;
  first: Load;
  repeat: Load;
}

// Runs before the page's own scripts, outside its CSP: notes when the landing heading and the action appear.
const MARKER_SCRIPT = (heading: string, action: string) => `
  (() => {
    const marks = (window.__firstLoad = { heading: null, action: null });
    const check = () => {
      const now = performance.now();
      if (marks.heading === null && [...document.querySelectorAll('h1')].some((h) => h.textContent.trim() === ${JSON.stringify(heading)})) marks.heading = now;
      if (marks.action === null && document.querySelector(${JSON.stringify(action)})) marks.action = now;
    };
    new MutationObserver(check).observe(document, { childList: true, subtree: true, characterData: true });
  })();
`;

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor((values.length - 1) / 2)] ?? NaN;

async function measure(browser: Browser, baseUrl: string, app: App, profile: Profile, variant: Variant): Promise<{ first: Load; repeat: Load }> {
  const context = await browser.newContext();
  try {
    await context.addInitScript({ content: MARKER_SCRIPT(app.heading, app.action) });
    const page = await context.newPage();
    const cdp = await context.newCDPSession(page);
    await cdp.send('Network.enable');
    await cdp.send('Network.emulateNetworkConditions', {
      offline: false,
      latency: profile.latencyMs,
      downloadThroughput: profile.downloadBps,
      uploadThroughput: profile.uploadBps,
    });
    if (variant === 'baseline') {
      // Before the patient app's service worker (docs/patient-client.md, "Verified code bundle") there was none to answer.
      await cdp.send('Network.setBypassServiceWorker', { bypass: true });
      await cdp.send('Network.setCacheDisabled', { cacheDisabled: true });
      await cdp.send('Network.setExtraHTTPHeaders', { headers: { 'Accept-Encoding': 'identity' } });
    }
    interface Seen {
      url: string;
      startS: number;
      endS: number;
      bytes: number;
      isCached: boolean;
      encoding: string | undefined;
    }
    let seen = new Map<string, Seen>();
    cdp.on('Network.requestWillBeSent', ({ requestId, request, timestamp }) =>
      seen.set(requestId, { url: request.url, startS: timestamp, endS: timestamp, bytes: 0, isCached: false, encoding: undefined }),
    );
    cdp.on('Network.requestServedFromCache', ({ requestId }) => {
      const entry = seen.get(requestId);
      if (entry) entry.isCached = true;
    });
    cdp.on('Network.responseReceived', ({ requestId, response }) => {
      const entry = seen.get(requestId);
      if (!entry) return;
      // The patient app's service worker answers a repeat visit from its verified cache: nothing on the wire.
      if (response.fromDiskCache || response.fromPrefetchCache || response.fromServiceWorker) entry.isCached = true;
      entry.encoding = Object.entries(response.headers).find(([name]) => name.toLowerCase() === 'content-encoding')?.[1];
    });
    cdp.on('Network.loadingFinished', ({ requestId, timestamp, encodedDataLength }) => {
      const entry = seen.get(requestId);
      if (!entry) return;
      entry.endS = timestamp;
      entry.bytes = encodedDataLength;
    });

    const visit = async (): Promise<Load> => {
      seen = new Map();
      await page.goto(`${baseUrl}${app.path}`, { waitUntil: 'load', timeout: 120_000 });
      // These run in the page (as functions: the page's CSP forbids evaluating strings); this package has no DOM types.
      type PageGlobals = {
        __firstLoad: { heading: number | null; action: number | null };
        performance: { getEntriesByType(type: string): { loadEventEnd?: number }[] };
      };
      await page.waitForFunction(
        () => {
          const marks = (globalThis as unknown as PageGlobals).__firstLoad;
          return marks.heading !== null && marks.action !== null;
        },
        undefined,
        { timeout: 120_000 },
      );
      await page.waitForLoadState('networkidle', { timeout: 120_000 });
      const marks = await page.evaluate(() => {
        const page = globalThis as unknown as PageGlobals;
        return {
          heading: page.__firstLoad.heading ?? NaN,
          action: page.__firstLoad.action ?? NaN,
          load: page.performance.getEntriesByType('navigation')[0]?.loadEventEnd ?? NaN,
        };
      });
      const entries = [...seen.values()];
      const startS = Math.min(...entries.map((entry) => entry.startS));
      if (variant === 'as built' && entries.some((entry) => !entry.isCached && entry.bytes > 1024 && entry.encoding === undefined)) {
        throw new Error(
          `${app.name}: a file over 1 KB came uncompressed: ${entries
            .filter((entry) => entry.encoding === undefined)
            .map((entry) => entry.url)
            .join(', ')}`,
        );
      }
      const fromNetwork = entries.filter((entry) => !entry.isCached);
      return {
        headingMs: marks.heading,
        interactiveMs: Math.max(marks.action, marks.load),
        settledMs: (Math.max(...entries.map((entry) => entry.endS)) - startS) * 1000,
        wireBytes: entries.reduce((sum, entry) => sum + entry.bytes, 0),
        requests: entries.length,
        fromNetwork: fromNetwork.length,
        assetsFromNetwork: fromNetwork.filter((entry) => new URL(entry.url).pathname.includes('/assets/')).length,
      };
    };

    const first = await visit();
    await page.goto('about:blank');
    const repeat = await visit();
    return { first, repeat };
  } finally {
    await context.close();
  }
}

function medianLoad(loads: Load[]): Load {
  const pick = (key: keyof Load) => median(loads.map((load) => load[key]));
  return {
    headingMs: pick('headingMs'),
    interactiveMs: pick('interactiveMs'),
    settledMs: pick('settledMs'),
    wireBytes: pick('wireBytes'),
    requests: pick('requests'),
    fromNetwork: pick('fromNetwork'),
    assetsFromNetwork: pick('assetsFromNetwork'),
  };
}

const kb = (bytes: number) => `${(bytes / 1024).toFixed(1)} KB`;
const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

function renderSection(rows: Row[], meta: { commit: string; when: string; runs: number; seconds: number }): string {
  const row = (app: string, profile: string, variant: Variant) => rows.find((r) => r.app === app && r.profile === profile && r.variant === variant)!;
  const slowPatient = row('patient', 'slow-3g', 'as built');
  const pass = (ok: boolean) => (ok ? '✅ pass' : '❌ miss');
  const lines = [
    '## First load on a phone network (issue #22)',
    '',
    `Measured **${meta.when}** at commit ${meta.commit} with \`node packages/bench/dist/first-load.js --runs ${meta.runs}\` (median of ${meta.runs} run(s) per figure, ${meta.seconds} s in all):`,
    'headless Chromium (Debian) with DevTools network throttling, a fresh browser profile per run, the gateway serving the built apps on the embedded demo practice.',
    '"As built" is what the gateway serves now (brotli, hashed assets cached for a year, the landing screen\'s own code only); the **baseline**, measured in the same run, is the same build fetched with `Accept-Encoding: identity` and the browser cache off: uncompressed and uncached, as the gateway served the apps before.',
    'Heading: from the start of the navigation until the landing heading is in the page. Interactive: the first button the person presses is in the page and the load event has fired. Settled: the last byte of everything the page fetched before anyone acted. Bytes: on the wire, headers included.',
    '',
    '| Target (issue #22) | Measured | |',
    '|---|---|---|',
    `| Slow 3G: first heading visible ≤ 2.0 s | ${s(slowPatient.first.headingMs)} (baseline ${s(row('patient', 'slow-3g', 'baseline').first.headingMs)}) | ${pass(slowPatient.first.headingMs <= 2000)} |`,
    `| Slow 3G: ≤ 60 KB transferred before the patient acts | ${kb(slowPatient.first.wireBytes)} (baseline ${kb(row('patient', 'slow-3g', 'baseline').first.wireBytes)}) | ${pass(slowPatient.first.wireBytes <= 60 * 1024)} |`,
    `| Repeat visit on slow 3G: heading ≤ 0.8 s | ${s(slowPatient.repeat.headingMs)} | ${pass(slowPatient.repeat.headingMs <= 800)} |`,
    `| Repeat visit: no asset downloaded again | ${slowPatient.repeat.assetsFromNetwork} asset(s) from the network | ${pass(slowPatient.repeat.assetsFromNetwork === 0)} |`,
    '',
    '| App | Network | Served | Heading | Interactive | Settled | Bytes (requests) | Repeat visit: heading / interactive | Repeat visit: bytes, assets fetched again |',
    '|---|---|---|---|---|---|---|---|---|',
  ];
  for (const app of APPS) {
    for (const profile of PROFILES) {
      for (const variant of ['as built', 'baseline'] as const) {
        const r = row(app.name, profile.name, variant);
        const name = variant === 'as built' ? `**${variant}**` : variant;
        lines.push(
          `| ${app.name} (\`${app.path}\`) | ${profile.label} | ${name} | ${s(r.first.headingMs)} | ${s(r.first.interactiveMs)} | ${s(r.first.settledMs)} | ${kb(r.first.wireBytes)} (${r.first.requests}) | ${s(r.repeat.headingMs)} / ${s(r.repeat.interactiveMs)} | ${kb(r.repeat.wireBytes)}, ${r.repeat.assetsFromNetwork} |`,
        );
      }
    }
  }
  lines.push(
    '',
    "The repeat visit asks the gateway only for `index.html` (revalidated: `no-cache` with an ETag) and the page's call to `/api/version`; every hashed file under `assets/` comes from the browser cache without a request. The baseline already has the patient landing screen's smaller code (the issue's measurement before this work: 270 KB and the heading at 3.4 s on slow 3G); the staff app's first screen is still one bundle with libsodium in it (not split yet).",
  );
  return lines.join('\n');
}

async function main(): Promise<void> {
  const runsArgument = process.argv.indexOf('--runs');
  const runs = runsArgument > 0 ? Number(process.argv[runsArgument + 1]) : 3;
  const repositoryRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
  const gatewayEntry = createRequire(import.meta.url).resolve('@parley/gateway');
  const startedAt = Date.now();
  const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: repositoryRoot, encoding: 'utf8' }).trim();
  const [gateway, browser] = await Promise.all([startTestGateway(gatewayEntry), launchChromium()]);
  const rows: Row[] = [];
  try {
    for (const profile of PROFILES) {
      for (const app of APPS) {
        for (const variant of ['as built', 'baseline'] as const) {
          const loads: { first: Load; repeat: Load }[] = [];
          for (let run = 0; run < runs; run += 1) loads.push(await measure(browser, gateway.url, app, profile, variant));
          const result = {
            app: app.name,
            profile: profile.name,
            variant,
            first: medianLoad(loads.map((l) => l.first)),
            repeat: medianLoad(loads.map((l) => l.repeat)),
          };
          rows.push(result);
          console.log(
            `${profile.name.padEnd(8)} ${app.name.padEnd(8)} ${variant.padEnd(9)} heading ${s(result.first.headingMs)}  interactive ${s(result.first.interactiveMs)}  settled ${s(result.first.settledMs)}  ${kb(result.first.wireBytes)}  | repeat heading ${s(result.repeat.headingMs)}  ${kb(result.repeat.wireBytes)}  assets from network ${result.repeat.assetsFromNetwork}`,
          );
        }
      }
    }
  } finally {
    await browser.close();
    await gateway.close();
  }
  const when = `${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC`;
  const section = renderSection(rows, { commit, when, runs, seconds: Math.round((Date.now() - startedAt) / 1000) });
  const resultsDir = join(repositoryRoot, 'packages/bench/results');
  await mkdir(resultsDir, { recursive: true });
  await writeFile(join(resultsDir, 'first-load.json'), `${JSON.stringify({ commit, when, runs, profiles: PROFILES, rows }, null, 2)}\n`);
  const docPath = join(repositoryRoot, 'docs/benchmarks.md');
  const updated = withSection(await readFile(docPath, 'utf8'), FIRST_LOAD_SECTION, section);
  await writeFile(docPath, updated);
  console.log(`docs/benchmarks.md: first-load section written (commit ${commit})`);
}

await main();
