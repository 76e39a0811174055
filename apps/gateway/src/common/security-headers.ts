import type { NextFunction, Request, Response } from 'express';

// The server serves the JavaScript that holds the keys, so the pages allow only our own scripts
// ('wasm-unsafe-eval' lets libsodium's WebAssembly load) and no framing, referrers or sniffing.
const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self' 'wasm-unsafe-eval'",
  "style-src 'self'",
  // blob: only for images a page made itself: attachments decrypted and re-drawn through a canvas (docs/staff-client.md,
  // docs/patient-client.md); an object URL is same-origin and cannot come from elsewhere.
  "img-src 'self' data: blob:",
  // 'self' is the origin the page was loaded from: with STAFF_PUBLIC_URL the staff origin may reach only itself and
  // the patient origin only itself (docs/operations.md, "Two origins"; test/e2e/staff-origin.e2e.spec.ts).
  "connect-src 'self'",
  "font-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  // Trusted Types: DOM sinks that parse HTML or script (innerHTML, script src, eval) refuse plain strings, so an
  // injected string can never become markup or code. The one policy allowed is Svelte 5's own, which turns the
  // compiler's static templates into <template> content (message text is set with textContent, never as HTML);
  // any other createPolicy call is refused. libsodium needs none. Checked by test/security/csp.browser.spec.ts.
  // `parley-service-worker`: the patient app's one script URL, /sw.js, for registering its service worker (a script
  // sink); the policy refuses any other URL (docs/patient-client.md, "Verified code bundle").
  "require-trusted-types-for 'script'",
  'trusted-types svelte-trusted-html parley-service-worker',
].join('; ');

/** Two years, the HSTS preload minimum; browsers ignore it over plain http (local development). */
const STRICT_TRANSPORT_SECURITY = 'max-age=63072000; includeSubDomains';
/** Paths that answer data, not the web clients' files: never cached by the browser or anything in between. */
const API_PATHS = /^\/(api|health|metrics|socket\.io)(\/|$)/;

/** Adds the security headers every response carries. */
export function securityHeaders(request: Request, response: Response, next: NextFunction): void {
  response.setHeader('Content-Security-Policy', CONTENT_SECURITY_POLICY);
  response.setHeader('X-Content-Type-Options', 'nosniff');
  response.setHeader('Referrer-Policy', 'no-referrer');
  response.setHeader('X-Frame-Options', 'DENY');
  response.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
  // No other origin may embed our files (a script, an image) into its page: the patient and staff origins included.
  response.setHeader('Cross-Origin-Resource-Policy', 'same-origin');
  response.setHeader('Permissions-Policy', 'camera=(), microphone=(), geolocation=()');
  response.setHeader('Strict-Transport-Security', STRICT_TRANSPORT_SECURITY);
  // API answers carry health data, keys and tokens: a shared or back-button cache must never keep them.
  if (API_PATHS.test(request.path)) response.setHeader('Cache-Control', 'no-store');
  next();
}

/**
 * The `Clear-Site-Data` every sign-out answer carries: `"cache"`, so no cached answer outlives the session.
 * Not `"storage"`: each client wipes what it stored itself, and the browser clearing IndexedDB under the
 * patient app's open connections stalled its own wipe (a blank screen for 8 to over 30 s after "Sign out
 * everywhere" in Chromium); a staff computer keeps its device keys on purpose. Never `"cookies"`: Parley sets
 * none (bearer tokens live in memory), and the directive would clear every other site on the domain too.
 * docs/threat-model.md, "Sessions".
 */
export const SIGN_OUT_CLEAR_SITE_DATA = '"cache"';
