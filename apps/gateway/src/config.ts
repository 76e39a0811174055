import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';

const packageRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const repositoryRoot = resolve(packageRoot, '../..');

const booleanFlag = z.enum(['true', 'false']).transform((value) => value === 'true');
const postgresUrl = z.url({ protocol: /^postgres(ql)?$/ });

const EnvSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  HOST: z.string().min(1).default('127.0.0.1'),
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  PUBLIC_URL: z.url().optional(),
  // An origin (scheme, host, optional port) and nothing else: the staff app is served at its root.
  STAFF_PUBLIC_URL: z
    .url({ protocol: /^https?$/ })
    .refine((value) => URL.canParse(value) && new URL(value).href === `${new URL(value).origin}/`, 'an origin only, with no path, query or fragment')
    .optional(),
  ALLOWED_ORIGINS: z.string().optional(),
  DATABASE_URL: postgresUrl.optional(),
  DATA_DIR: z.string().min(1).default(resolve(repositoryRoot, '.data')),
  EMBEDDED_PG_PORT: z.coerce.number().int().min(0).max(65535).default(0),
  REDIS_URL: z.url({ protocol: /^rediss?$/ }).optional(),
  REDIS_STREAM_NAME: z
    .string()
    .regex(/^[A-Za-z0-9:._-]{1,64}$/)
    .default('socket.io'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  DEMO_SEED: booleanFlag.optional(),
  SHUTDOWN_GRACE_MS: z.coerce.number().int().min(0).max(120_000).default(10_000),
  PATIENT_DIST: z.string().min(1).default(resolve(repositoryRoot, 'apps/patient/dist')),
  STAFF_DIST: z.string().min(1).default(resolve(repositoryRoot, 'apps/staff/dist')),
  SESSION_TTL_HOURS: z.coerce.number().int().min(1).max(720).default(12),
  CLINICIAN_GRACE_SECONDS: z.coerce.number().int().min(0).max(3600).default(120),
  SIGN_IN_MAX_FAILURES_PER_ACCOUNT: z.coerce.number().int().min(1).max(1000).default(5),
  SIGN_IN_MAX_FAILURES_PER_IP: z.coerce.number().int().min(1).max(100_000).default(20),
  SIGN_IN_FAILURE_WINDOW_MINUTES: z.coerce.number().int().min(1).max(1440).default(15),
  BACKUP_DOWNLOADS_PER_HOUR: z.coerce.number().int().min(1).max(1000).default(10),
  ATTACHMENT_UPLOADS_PER_MINUTE: z.coerce.number().int().min(1).max(10_000).default(20),
  // From a minute (tests) to a week; default 6 h.
  ATTACHMENT_UNREFERENCED_TTL_MS: z.coerce.number().int().min(60_000).max(604_800_000).default(21_600_000),
  METRICS_TOKEN: z.string().min(16).max(256).optional(),
  // Web Push (docs/operations.md, "Push notifications"): the contact the push services may use (mailto: or https:).
  VAPID_SUBJECT: z
    .string()
    .regex(/^(mailto:|https:\/\/)\S+$/, 'a mailto: or https: URL')
    .optional(),
  // Tests only in practice: accept http push endpoints on a loopback host (a local push service).
  PUSH_ALLOW_INSECURE_ENDPOINTS: booleanFlag.optional(),
  // Seconds a push service keeps an undelivered notice for a device that is off.
  PUSH_TTL_SECONDS: z.coerce.number().int().min(0).max(2_419_200).default(86_400),
  // The SMS/e-mail channel in the shape of GOV.UK Notify (docs/operations.md, "Text and e-mail notices"): off unless the key and a template are set.
  NOTIFY_API_KEY: z
    .string()
    .regex(/^[A-Za-z0-9_-]+-[0-9a-f-]{36}-[0-9a-f-]{36}$/, '{key_name}-{service_id}-{secret_key}')
    .optional(),
  NOTIFY_BASE_URL: z.url({ protocol: /^https?$/ }).default('https://api.notifications.service.gov.uk'),
  NOTIFY_SMS_TEMPLATE_ID: z.uuid().optional(),
  NOTIFY_EMAIL_TEMPLATE_ID: z.uuid().optional(),
  TRUST_PROXY: z
    .string()
    .regex(/^[0-9A-Za-z.:/,\s]+$/)
    .optional(),
  SOCKET_EVENTS_PER_SECOND: z.coerce.number().int().min(1).max(100_000).default(100),
  SOCKET_EVENT_BURST: z.coerce.number().int().min(1).max(100_000).default(600),
  USER_EVENTS_PER_SECOND: z.coerce.number().int().min(1).max(100_000).default(200),
  USER_EVENT_BURST: z.coerce.number().int().min(1).max(100_000).default(1200),
  SOCKET_CONNECTIONS_PER_IP_PER_MINUTE: z.coerce.number().int().min(1).max(1_000_000).default(1200),
  RECORD_QUEUE_MAX: z.coerce.number().int().min(1).max(1_000_000).default(20_000),
  DB_QUEUE_MAX: z.coerce.number().int().min(1).max(100_000).default(2_000),
  // Test-only crash points (`record.after-commit@40,...`); accepted only when NODE_ENV is test.
  PARLEY_FAULTS: z
    .string()
    .regex(/^[a-z.-]+@[1-9][0-9]{0,6}(,[a-z.-]+@[1-9][0-9]{0,6})*$/)
    .optional(),
  // Test-only: the gateway's clock starts at this instant and runs on from there; accepted only when NODE_ENV is test.
  PARLEY_TEST_CLOCK: z.iso.datetime({ offset: true }).optional(),
});

/** The gateway's whole configuration, parsed once at start-up. */
export interface AppConfig {
  nodeEnv: 'development' | 'production' | 'test';
  host: string;
  port: number;
  /** Where people reach the gateway; the default origin allowed to open sockets. */
  publicUrl: string | undefined;
  /**
   * The staff app's own origin (docs/operations.md, "Two origins"). When set, requests whose Host names it get the
   * staff app at `/` and the API, and no other host serves the staff app; unset (the demo), the staff app is at
   * `/staff/` beside the patient app on one origin.
   */
  staffPublicUrl: string | undefined;
  /** Browser origins allowed to open a socket besides the gateway's own: PUBLIC_URL's, STAFF_PUBLIC_URL's and ALLOWED_ORIGINS. */
  allowedOrigins: readonly string[];
  /** External PostgreSQL; when absent the gateway runs an embedded PostgreSQL under `dataDir`. */
  databaseUrl: string | undefined;
  dataDir: string;
  embeddedPgPort: number;
  redisUrl: string | undefined;
  /** The Redis stream (and channel prefix) the nodes of one deployment share. */
  redisStreamName: string;
  logLevel: string;
  /** Seed the demo practice; on by default only on the embedded database. */
  seedDemo: boolean;
  shutdownGraceMs: number;
  patientDist: string;
  staffDist: string;
  /** How long a session (bearer token) lasts from sign-in; it is not extended by use. */
  sessionTtlHours: number;
  /** How long an available clinician may be disconnected before their conversations go back to the queue. */
  clinicianGraceSeconds: number;
  /**
   * Failed sign-ins an account may have (over a day) before each further try waits a doubling delay
   * (never a lockout); failed activations allowed per code, and failures per IP address, within the window.
   */
  signInMaxFailuresPerAccount: number;
  signInMaxFailuresPerIp: number;
  signInFailureWindowMinutes: number;
  /** Key backup downloads allowed per user per hour. */
  backupDownloadsPerHour: number;
  /** Attachment uploads one user may start per minute (docs/operations.md, "Attachments"). */
  attachmentUploadsPerMinute: number;
  /** How long an upload no stored message references is kept before the sweep removes it. */
  attachmentUnreferencedTtlMs: number;
  /** Bearer token that `GET /metrics` requires; unset, the route answers 404. */
  metricsToken: string | undefined;
  /** Web Push (docs/operations.md, "Push notifications"). */
  push: {
    /** The VAPID `sub` claim: how a push service reaches the operator (PUBLIC_URL if https, else a placeholder mailto:). */
    vapidSubject: string;
    /** Whether http push endpoints on a loopback host are accepted (a local push service in tests). */
    allowInsecureEndpoints: boolean;
    /** How long a push service keeps a notice for a device that is off. */
    ttlSeconds: number;
  };
  /** The SMS/e-mail channel (GOV.UK Notify's API shape); undefined when no API key is set. A channel is on when its template is set. */
  notify:
    | {
        apiKey: string;
        baseUrl: string;
        smsTemplateId: string | undefined;
        emailTemplateId: string | undefined;
      }
    | undefined;
  /**
   * Express's `trust proxy`: which hops' X-Forwarded-For to believe for the client address (per-IP
   * rate limits). `false` (default) uses the TCP peer; a hop count or a list of addresses/subnets
   * (`loopback`, `10.0.0.0/8`) names the load balancers in front of the gateway.
   */
  trustProxy: boolean | number | readonly string[];
  /** Socket command flood limits (per socket, and per user across their sockets on one node) and new connections per address. */
  socketRateLimits: {
    socketEventsPerSecond: number;
    socketEventBurst: number;
    userEventsPerSecond: number;
    userEventBurst: number;
    connectionsPerIpPerMinute: number;
  };
  /**
   * Load shedding (docs/operations.md, "Overload"): entries the record writer may hold waiting for a transaction before
   * further appends are refused with `rate_limited`, and queries that may wait for a pooled connection likewise.
   */
  recordQueueMax: number;
  dbQueueMax: number;
  /** Test-only fault points (`point@n`: crash at its n-th hit), see record/fault-points.ts; only with NODE_ENV=test. */
  faults: string | undefined;
  /** Test-only start instant of the gateway's clock (browser tests of the weekly schedule); only with NODE_ENV=test. */
  testClockStart: Date | undefined;
}

/** An invalid environment: names the bad variables, never their values (they may be secrets). */
export class ConfigError extends Error {
  constructor(readonly keys: readonly string[]) {
    super(`invalid configuration: ${keys.join(', ')}`);
  }
}

/** Parses the environment into a frozen AppConfig. @throws ConfigError naming every bad variable */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): AppConfig {
  // An empty variable (`PORT=`) means "use the default", as in most shells' .env habits.
  const present = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== ''));
  const parsed = EnvSchema.safeParse(present);
  if (!parsed.success) {
    const keys = [...new Set(parsed.error.issues.map((issue) => `${String(issue.path[0])} (${issue.message})`))];
    throw new ConfigError(keys);
  }
  const e = parsed.data;
  // Fault points kill the process on purpose and the test clock stamps the audit log: only a test run may set them, so a
  // deployment that forgot NODE_ENV (default development) refuses them as production does.
  const testOnly = (['PARLEY_FAULTS', 'PARLEY_TEST_CLOCK'] as const).filter((key) => e[key] !== undefined && e.NODE_ENV !== 'test');
  if (testOnly.length > 0) throw new ConfigError(testOnly.map((key) => `${key} (test-only; set NODE_ENV=test to use it)`));
  // The host name alone decides which app a request gets (a proxy may pass the Host without its port): two origins on one name are refused.
  // Invitation links made on the staff origin point at the patient app: its address must be known (GET /api/version).
  if (e.STAFF_PUBLIC_URL && !e.PUBLIC_URL) throw new ConfigError(['PUBLIC_URL (required with STAFF_PUBLIC_URL: invitation links point at the patient app)']);
  if (e.STAFF_PUBLIC_URL && e.PUBLIC_URL && new URL(e.STAFF_PUBLIC_URL).hostname === new URL(e.PUBLIC_URL).hostname) {
    throw new ConfigError(["STAFF_PUBLIC_URL (needs a host name of its own, not PUBLIC_URL's)"]);
  }
  const allowedOrigins = [
    ...(e.PUBLIC_URL ? [new URL(e.PUBLIC_URL).origin] : []),
    ...(e.STAFF_PUBLIC_URL ? [new URL(e.STAFF_PUBLIC_URL).origin] : []),
    ...(e.ALLOWED_ORIGINS ?? '')
      .split(',')
      .map((origin) => origin.trim())
      .filter(Boolean),
  ];
  return Object.freeze({
    nodeEnv: e.NODE_ENV,
    host: e.HOST,
    port: e.PORT,
    publicUrl: e.PUBLIC_URL,
    staffPublicUrl: e.STAFF_PUBLIC_URL ? new URL(e.STAFF_PUBLIC_URL).origin : undefined,
    allowedOrigins: Object.freeze(allowedOrigins),
    databaseUrl: e.DATABASE_URL,
    dataDir: resolve(e.DATA_DIR),
    embeddedPgPort: e.EMBEDDED_PG_PORT,
    redisUrl: e.REDIS_URL,
    redisStreamName: e.REDIS_STREAM_NAME,
    logLevel: e.LOG_LEVEL,
    seedDemo: e.DEMO_SEED ?? e.DATABASE_URL === undefined,
    shutdownGraceMs: e.SHUTDOWN_GRACE_MS,
    patientDist: resolve(e.PATIENT_DIST),
    staffDist: resolve(e.STAFF_DIST),
    sessionTtlHours: e.SESSION_TTL_HOURS,
    clinicianGraceSeconds: e.CLINICIAN_GRACE_SECONDS,
    signInMaxFailuresPerAccount: e.SIGN_IN_MAX_FAILURES_PER_ACCOUNT,
    signInMaxFailuresPerIp: e.SIGN_IN_MAX_FAILURES_PER_IP,
    signInFailureWindowMinutes: e.SIGN_IN_FAILURE_WINDOW_MINUTES,
    backupDownloadsPerHour: e.BACKUP_DOWNLOADS_PER_HOUR,
    attachmentUploadsPerMinute: e.ATTACHMENT_UPLOADS_PER_MINUTE,
    attachmentUnreferencedTtlMs: e.ATTACHMENT_UNREFERENCED_TTL_MS,
    metricsToken: e.METRICS_TOKEN,
    push: Object.freeze({
      vapidSubject: e.VAPID_SUBJECT ?? (e.PUBLIC_URL?.startsWith('https://') ? new URL(e.PUBLIC_URL).origin : 'mailto:operator@parley.invalid'),
      allowInsecureEndpoints: e.PUSH_ALLOW_INSECURE_ENDPOINTS ?? false,
      ttlSeconds: e.PUSH_TTL_SECONDS,
    }),
    notify:
      e.NOTIFY_API_KEY && (e.NOTIFY_SMS_TEMPLATE_ID || e.NOTIFY_EMAIL_TEMPLATE_ID)
        ? Object.freeze({
            apiKey: e.NOTIFY_API_KEY,
            baseUrl: e.NOTIFY_BASE_URL.replace(/\/+$/, ''),
            smsTemplateId: e.NOTIFY_SMS_TEMPLATE_ID,
            emailTemplateId: e.NOTIFY_EMAIL_TEMPLATE_ID,
          })
        : undefined,
    trustProxy: parseTrustProxy(e.TRUST_PROXY),
    recordQueueMax: e.RECORD_QUEUE_MAX,
    dbQueueMax: e.DB_QUEUE_MAX,
    faults: e.PARLEY_FAULTS,
    testClockStart: e.PARLEY_TEST_CLOCK ? new Date(e.PARLEY_TEST_CLOCK) : undefined,
    socketRateLimits: Object.freeze({
      socketEventsPerSecond: e.SOCKET_EVENTS_PER_SECOND,
      socketEventBurst: e.SOCKET_EVENT_BURST,
      userEventsPerSecond: e.USER_EVENTS_PER_SECOND,
      userEventBurst: e.USER_EVENT_BURST,
      connectionsPerIpPerMinute: e.SOCKET_CONNECTIONS_PER_IP_PER_MINUTE,
    }),
  });
}

/** `false`/`true`, a hop count, or a comma-separated list of proxy addresses and subnets. */
function parseTrustProxy(value: string | undefined): AppConfig['trustProxy'] {
  if (value === undefined || value === 'false') return false;
  if (value === 'true') return true;
  if (/^\d+$/.test(value)) return Number(value);
  return Object.freeze(
    value
      .split(',')
      .map((part) => part.trim())
      .filter(Boolean),
  );
}

/** Injection token of the AppConfig. */
export const APP_CONFIG = Symbol('APP_CONFIG');
