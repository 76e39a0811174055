import type { RequestHandler } from 'express';
import expressStaticGzip from 'express-static-gzip';
import type { ServerResponse } from 'node:http';
import { relative, sep } from 'node:path';

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
