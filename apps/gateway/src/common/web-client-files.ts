import type { RequestHandler } from 'express';
import expressStaticGzip from 'express-static-gzip';
import type { ServerResponse } from 'node:http';
import { relative, sep } from 'node:path';
import type { AppConfig } from '../config.js';

/** Files whose names carry a hash of their content (Vite's `assets/` folder): a new build gives them new names. */
const HASHED_FOLDER = `assets${sep}`;
/** A year, the longest `max-age` caches honour; `immutable` spares even a reload's revalidation. */
export const HASHED_CACHE_CONTROL = 'public, max-age=31536000, immutable';
/** `index.html` and the unhashed files: kept, but asked about (ETag / Last-Modified) before each use, so a deploy shows at once. */
export const REVALIDATE_CACHE_CONTROL = 'no-cache';

/**
 * Serves one built web client (`apps/patient/dist` or `apps/staff/dist`) from `folder`: the brotli or gzip file the
 * build made beside each text file when the request's `Accept-Encoding` allows it (with `Vary: Accept-Encoding`), the
 * plain file otherwise; hashed assets cached for a year, `index.html` revalidated. Unknown paths fall through.
 *
 * The compressed files are found once, when this is created: a client rebuilt under a running gateway is served
 * uncompressed until the gateway restarts.
 */
export function webClientFiles(folder: string): RequestHandler {
  return expressStaticGzip(folder, {
    enableBrotli: true,
    // Brotli is about a tenth smaller than gzip on these files; the client's own preference order is not consulted.
    orderPreference: ['br', 'gzip'],
    index: 'index.html',
    serveStatic: {
      fallthrough: true,
      // serve-static would add `public, max-age=0`; every file gets its own policy below.
      cacheControl: false,
      setHeaders: (response: ServerResponse, path: string) => {
        const isHashed = relative(folder, path).startsWith(HASHED_FOLDER);
        response.setHeader('Cache-Control', isHashed ? HASHED_CACHE_CONTROL : REVALIDATE_CACHE_CONTROL);
      },
    },
  }) as RequestHandler;
}

/** Where one web client is served: mount `handler` at `prefix`; `folder` is its build. */
export interface WebClientMount {
  prefix: string;
  folder: string;
  handler: RequestHandler;
}

/**
 * Where the two web clients are served. With a staff origin (`STAFF_PUBLIC_URL`), by the request's host name: that
 * host gets the staff app at `/` and never the patient app, every other host gets the patient app and never the staff
 * app (`/staff/` is a 404), so the staff vault's keys live in an origin no patient page can run in. Without one (the
 * demo), the staff app at `/staff/` beside the patient app, on one origin. The API answers on every host.
 */
export function webClientMounts(config: Pick<AppConfig, 'patientDist' | 'staffDist' | 'staffPublicUrl'>): WebClientMount[] {
  const staff = webClientFiles(config.staffDist);
  const patient = webClientFiles(config.patientDist);
  if (!config.staffPublicUrl) {
    return [
      { prefix: '/staff', folder: config.staffDist, handler: staff },
      { prefix: '/', folder: config.patientDist, handler: patient },
    ];
  }
  const staffHostName = new URL(config.staffPublicUrl).hostname;
  const isStaffHost = (host: string | undefined) => hostNameOf(host) === staffHostName;
  return [
    {
      prefix: '/',
      folder: config.staffDist,
      handler: (request, response, next) => (isStaffHost(request.headers.host) ? staff(request, response, next) : next()),
    },
    {
      prefix: '/',
      folder: config.patientDist,
      handler: (request, response, next) => (isStaffHost(request.headers.host) ? next() : patient(request, response, next)),
    },
  ];
}

/**
 * The host name of a Host header, lower case and without its port (a proxy such as nginx's `$host` drops it);
 * undefined when absent or unparsable. The Host header, never X-Forwarded-Host: a browser sets Host from the address
 * it loads, which is what decides the page's origin, while a page's own script may add any X-Forwarded-Host to a fetch.
 */
export function hostNameOf(host: string | undefined): string | undefined {
  if (!host) return undefined;
  try {
    return new URL(`http://${host}`).hostname;
  } catch {
    return undefined;
  }
}
