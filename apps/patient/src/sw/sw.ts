/// <reference lib="webworker" />
// The patient app's service worker (built on its own as /sw.js, vite.config.ts). It keeps the app shell offline and
// serves only code the release key signed: at install it pins the release public key built into it, fetches the
// signed manifest, checks every file against it and caches them; from then on the app's files come from that verified
// cache, and an update is taken only when its manifest verifies under the pinned key and every file matches. Anything
// else is refused, with a warning to the page, while the installed version goes on working (docs/crypto.md, "The code
// the server serves"; docs/patient-client.md, "Verified code bundle"). It also shows the content-free push
// notifications (./push.ts).
import { registerPushHandlers } from './push';
import { fromBase64, parseReleaseManifest, RELEASE_MANIFEST_PATH, sha256Base64, verifyReleaseManifest, type ReleaseManifest } from './verify-manifest';
import { isBundleCheckMessage, type BundleMessage, type RefusalReason } from './verify-messages';

declare const self: ServiceWorkerGlobalScope;
/** The release public key (raw Ed25519, base64) of the build this worker belongs to; vite.config.ts puts it here. */
declare const __RELEASE_PUBLIC_KEY__: string;

const RELEASE_KEY = __RELEASE_PUBLIC_KEY__;
/** Where the worker keeps its own state (Cache Storage outlives the worker between events, like IndexedDB). */
const STATE_CACHE = 'parley-bundle';
/** The key pinned by the first install: a later worker with another key is refused. */
const PINNED_KEY = '/parley-bundle/pinned-key';
/** The manifest of the release pages load now. */
const CURRENT = '/parley-bundle/current';
/** A newer verified release, stored, used from the next page load. */
const NEXT = '/parley-bundle/next';
/** One cache per verified release, named after it. */
const RELEASE_CACHE = 'parley-release-';
/** Never the worker's business: the API, the socket, the staff app (docs/operations.md), the gateway's probes. */
const PASS_THROUGH = /^\/(api|socket\.io|staff|health|metrics)(\/|$)/;
/** Requests that would run or style code: refused when no verified release lists them, never fetched from the server. */
const CODE_DESTINATIONS = new Set<RequestDestination>(['script', 'style', 'worker', 'sharedworker', 'document', 'iframe', 'frame']);
const INDEX = '/index.html';

/** What the server serves did not verify: the reason goes to the page. */
class Refused extends Error {
  constructor(readonly reason: RefusalReason) {
    super(`update refused: ${reason}`);
  }
}

/** A verified release, fetched and checked, not yet stored. */
interface FetchedRelease {
  manifest: ReleaseManifest;
  responses: Map<string, Response>;
}

registerPushHandlers(self);

self.addEventListener('install', (event) => event.waitUntil(install()));
self.addEventListener('activate', (event) => event.waitUntil(activate()));
self.addEventListener('message', (event) => {
  if (isBundleCheckMessage(event.data)) event.waitUntil(checkForUpdate());
});
self.addEventListener('fetch', (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin || request.method !== 'GET' || PASS_THROUGH.test(url.pathname)) return;
  event.respondWith(request.mode === 'navigate' ? serveNavigation(request) : serveFile(request, url.pathname));
});

/**
 * Installs this worker: refused when the key pinned by an earlier install is not this worker's (the browser then keeps
 * the installed worker), else fetches and verifies the release the server serves now and stores it as the next one.
 */
async function install(): Promise<void> {
  const pinned = await readState(PINNED_KEY);
  try {
    if (pinned !== null && pinned !== RELEASE_KEY) throw new Refused('key');
    await store(await fetchVerifiedRelease());
  } catch (error) {
    if (error instanceof Refused) await tellPages({ type: 'parley:bundle-refused', reason: error.reason });
    throw error;
  }
  if (pinned === null) await writeState(PINNED_KEY, RELEASE_KEY);
  // Pages already open keep working: their files stay in their release's cache until the one after.
  await self.skipWaiting();
}

async function activate(): Promise<void> {
  await promoteNext();
  await self.clients.claim();
}

/** One check at a time, however many pages ask. */
let checking: Promise<void> | null = null;

/** Looks for a newer release (the page asks at start and now and then); tells the pages what it found. */
function checkForUpdate(): Promise<void> {
  checking ??= runCheck().finally(() => (checking = null));
  return checking;
}

async function runCheck(): Promise<void> {
  const current = await readManifest(CURRENT);
  if (!current) return; // not installed yet: the install checks
  let release: FetchedRelease;
  try {
    release = await fetchVerifiedRelease();
  } catch (error) {
    // Offline, or the server is down: nothing to warn about; the next check tries again.
    if (error instanceof Refused) await tellPages({ type: 'parley:bundle-refused', reason: error.reason });
    return;
  }
  if (release.manifest.release === current.release) return;
  if ((await readManifest(NEXT))?.release !== release.manifest.release) await store(release);
  await tellPages({ type: 'parley:bundle-update-ready', release: release.manifest.release });
}

/**
 * The release the server serves now: its manifest, verified under the pinned key, and every file it lists, each
 * matching its hash (asked again of the server, so a file changed in place is seen). Throws `Refused` when anything
 * does not verify; rejects otherwise (a network error, a file missing) when there is nothing to conclude.
 */
async function fetchVerifiedRelease(): Promise<FetchedRelease> {
  const response = await fetch(RELEASE_MANIFEST_PATH, { cache: 'no-store' });
  if (!response.ok && response.status !== 404) throw new Error(`release manifest: ${response.status}`);
  const manifest = response.ok ? parseReleaseManifest(await response.text()) : null;
  if (!manifest || !(await verifyReleaseManifest(manifest, fromBase64(RELEASE_KEY)))) throw new Refused('signature');
  const responses = new Map<string, Response>();
  await Promise.all(
    Object.entries(manifest.files).map(async ([path, hash]) => {
      const file = await fetch(path, { cache: 'no-cache' });
      if (!file.ok) throw new Error(`${path}: ${file.status}`);
      if ((await sha256Base64(await file.clone().arrayBuffer())) !== hash) throw new Refused('file');
      responses.set(path, file);
    }),
  );
  return { manifest, responses };
}

/** Stores a verified release in its own cache, then marks it as the next one. */
async function store(release: FetchedRelease): Promise<void> {
  const cache = await caches.open(RELEASE_CACHE + release.manifest.release);
  await Promise.all([...release.responses].map(([path, response]) => cache.put(path, response)));
  await writeState(NEXT, JSON.stringify(release.manifest));
}

/** Makes the next release the current one (if there is one); keeps the release before it for pages still open. */
async function promoteNext(): Promise<void> {
  const next = await readManifest(NEXT);
  if (!next) return;
  const current = await readManifest(CURRENT);
  await writeState(CURRENT, JSON.stringify(next));
  await (await caches.open(STATE_CACHE)).delete(NEXT);
  const kept = new Set([RELEASE_CACHE + next.release, current ? RELEASE_CACHE + current.release : '']);
  for (const name of await caches.keys()) {
    if (name.startsWith(RELEASE_CACHE) && !kept.has(name)) await caches.delete(name);
  }
}

/**
 * A page load: the verified index.html of the current release, whatever the path (a link to any other page of this
 * origin must not load code the release key did not sign). A newer verified release becomes current here.
 */
async function serveNavigation(request: Request): Promise<Response> {
  await promoteNext();
  const current = await readManifest(CURRENT);
  if (!current) return fetch(request);
  const index = await (await caches.open(RELEASE_CACHE + current.release)).match(INDEX);
  return index ?? fetch(request);
}

/**
 * A file: from the current release, else from any verified release still kept (an open page of the previous release
 * loads its own chunks). Files with fixed names (`/favicon.svg`) come from the current release first.
 */
async function serveFile(request: Request, path: string): Promise<Response> {
  const current = await readManifest(CURRENT);
  const names = (await caches.keys()).filter((name) => name.startsWith(RELEASE_CACHE));
  if (current) names.unshift(RELEASE_CACHE + current.release);
  for (const name of names) {
    const cached = await (await caches.open(name)).match(path);
    if (cached) return cached;
  }
  if (CODE_DESTINATIONS.has(request.destination) && current) {
    return new Response('Not part of the verified release.', { status: 404, headers: { 'content-type': 'text/plain' } });
  }
  return fetch(request);
}

/** Posts `message` to every patient app window (open or still starting); the staff app's windows are not its business. */
async function tellPages(message: BundleMessage): Promise<void> {
  for (const client of await self.clients.matchAll({ type: 'window', includeUncontrolled: true })) {
    if (!PASS_THROUGH.test(new URL(client.url).pathname)) client.postMessage(message);
  }
}

async function readState(key: string): Promise<string | null> {
  const response = await (await caches.open(STATE_CACHE)).match(key);
  return response ? response.text() : null;
}

async function writeState(key: string, value: string): Promise<void> {
  await (await caches.open(STATE_CACHE)).put(key, new Response(value, { headers: { 'content-type': 'text/plain' } }));
}

async function readManifest(key: string): Promise<ReleaseManifest | null> {
  const text = await readState(key);
  return text === null ? null : parseReleaseManifest(text);
}
