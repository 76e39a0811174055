import { isIP } from 'node:net';

const LOOPBACK_HOSTS: ReadonlySet<string> = new Set(['localhost', '127.0.0.1', '[::1]']);

/** IP literals the gateway never posts to from a patient's subscription: its own network (a request forgery), unless a test's loopback service. */
const PRIVATE_V4 = [/^10\./, /^127\./, /^169\.254\./, /^192\.168\./, /^172\.(1[6-9]|2[0-9]|3[01])\./, /^0\./, /^100\.(6[4-9]|[7-9][0-9]|1[01][0-9]|12[0-7])\./];

/**
 * Whether the gateway may send pushes to `endpoint`: https to a public host name, or — only with
 * `allowInsecure` (PUSH_ALLOW_INSECURE_ENDPOINTS, tests) — http to a loopback host. An IP literal in a private or
 * loopback range is refused otherwise: the endpoint is the patient's to choose, the request the gateway's.
 */
export function isAllowedPushEndpoint(endpoint: string, allowInsecure: boolean): boolean {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    return false;
  }
  if (url.username || url.password) return false;
  const isLoopback = LOOPBACK_HOSTS.has(url.hostname);
  if (allowInsecure && isLoopback) return url.protocol === 'http:' || url.protocol === 'https:';
  if (url.protocol !== 'https:' || isLoopback) return false;
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const family = isIP(host);
  if (family === 4) return !PRIVATE_V4.some((range) => range.test(host));
  // IPv6 literals: refuse the local, link-local and unique-local ones (and mapped IPv4) rather than parse ranges.
  if (family === 6) return !/^(::|::1|fe80:|fc|fd|::ffff:)/i.test(host);
  return true;
}
