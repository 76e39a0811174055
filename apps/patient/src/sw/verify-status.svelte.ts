// The page's side of the verified code bundle: registers the service worker, asks it to look for updates, and holds
// what it reported for UpdateWarning.svelte (docs/patient-client.md, "Verified code bundle").
import { isBundleMessage, type BundleCheckMessage, type RefusalReason } from './verify-messages';

/** How often an open page asks the service worker to look for a new release, besides at start. */
const CHECK_INTERVAL_MS = 60 * 60 * 1000;

/** What the service worker last reported about the code the server serves. */
export class BundleStatus {
  /** Set when an update was refused: the page warns, the installed version goes on working. */
  refusal: RefusalReason | null = $state(null);
  /** A newer verified release is stored: a reload uses it. */
  isUpdateReady = $state(false);
}

/** The one status of this page (the service worker's reports come to the page, not to a component). */
export const bundleStatus = new BundleStatus();

/**
 * Registers `/sw.js` (scope `/`) once the page has loaded (its first screen has the network to itself), and asks it
 * for an update check now and every hour. A browser without service workers runs the app as before, unverified.
 */
export function startVerifiedBundle(): void {
  if (!('serviceWorker' in navigator)) return;
  const container = navigator.serviceWorker;
  container.addEventListener('message', (event: MessageEvent<unknown>) => {
    if (!isBundleMessage(event.data)) return;
    if (event.data.type === 'parley:bundle-refused') bundleStatus.refusal = event.data.reason;
    else bundleStatus.isUpdateReady = true;
  });
  // Messages posted while the page was starting are delivered from here on.
  container.startMessages();
  const check = () => container.controller?.postMessage({ type: 'parley:bundle-check' } satisfies BundleCheckMessage);
  const register = () => {
    container.register(serviceWorkerUrl(), { scope: '/' }).then(check, (error: unknown) => {
      // An install refused by the worker has told the page why; anything else leaves the app running unverified.
      console.warn('Parley: the service worker was not registered', error);
    });
    setInterval(check, CHECK_INTERVAL_MS);
  };
  if (document.readyState === 'complete') register();
  else window.addEventListener('load', register, { once: true });
}

/**
 * `/sw.js`, as a Trusted Types script URL where the page enforces them (the gateway's CSP does): registering a worker
 * is a script sink. The policy lets through that one URL and nothing else.
 */
function serviceWorkerUrl(): string {
  const trustedTypes = (
    window as { trustedTypes?: { createPolicy(name: string, rules: { createScriptURL(url: string): string }): { createScriptURL(url: string): string } } }
  ).trustedTypes;
  if (!trustedTypes) return '/sw.js';
  const policy = trustedTypes.createPolicy('parley-service-worker', {
    createScriptURL: (url) => {
      if (url !== '/sw.js') throw new TypeError('only /sw.js may be registered');
      return url;
    },
  });
  return policy.createScriptURL('/sw.js');
}
