import { z } from 'zod';

// In a browser the gateway's CSP enforces Trusted Types, which (rightly) block zod's one-off probe for
// `new Function` and report it as a violation; zod then validates without compiled parsers anyway. Saying
// so before any schema exists skips the probe. The gateway (Node, no `document`) keeps zod's faster
// compiled parsers.
if ('document' in globalThis) z.config({ jitless: true });
