import { notifyToken, type NotifyApiKey } from './notify-api-key.js';

/** Notify's two sending routes the gateway uses. */
export type NotifyRoute = 'sms' | 'email';

/** One notification to send: the template at Notify holds the words, the gateway only picks it and the recipient. */
export interface NotifyMessage {
  route: NotifyRoute;
  /** A phone number (sms) or an e-mail address (email); sent to Notify only, never logged. */
  recipient: string;
  templateId: string;
  /** Values of the template's placeholders; absent when the template needs none. */
  personalisation?: Readonly<Record<string, string>>;
}

/**
 * Notify did not take a notification: its HTTP status (`null` when no answer came: refused connection, time-out) and
 * the names of the errors it gave (`ValidationError`, `AuthError`…). Never the messages: a message could echo the
 * recipient, and this error reaches the logs.
 */
export class NotifyRequestError extends Error {
  constructor(
    readonly status: number | null,
    readonly errorNames: readonly string[],
  ) {
    super(`Notify answered ${status ?? 'nothing'}${errorNames.length > 0 ? ` (${errorNames.join(', ')})` : ''}`);
  }

  /** A 4xx other than 429: the same request would fail again (a bad number, a refused key), so it is not retried. */
  get isPermanent(): boolean {
    return this.status !== null && this.status >= 400 && this.status < 500 && this.status !== 429;
  }
}

/** Which Notify service the client speaks to, and where. */
export interface NotifyEndpoint {
  apiKey: NotifyApiKey;
  /** Notify's API origin, without a trailing slash. */
  baseUrl: string;
}

/** Tuning of {@link NotifyClient}; the defaults suit production, tests shorten them. */
export interface NotifyClientOptions {
  /** Waits before each retry of a 429, a 5xx or a request that got no answer; their count bounds the retries. */
  retryDelaysMs?: readonly number[];
  /** How long one request may take. */
  timeoutMs?: number;
  /** Aborted, a request in flight and any wait for a retry end at once (the gateway shutting down). */
  signal?: AbortSignal;
}

/** Three retries, over about 40 s: long enough for Notify's per-minute rate limit or a short outage to pass. */
const DEFAULT_RETRY_DELAYS_MS = [2_000, 8_000, 30_000] as const;
const DEFAULT_TIMEOUT_MS = 10_000;

/**
 * A small client of GOV.UK Notify's API v2 (docs/operations.md, "Text and e-mail notices"):
 * `POST /v2/notifications/sms` and `/v2/notifications/email`, each with a fresh HS256 bearer token.
 */
export class NotifyClient {
  private readonly retryDelaysMs: readonly number[];
  private readonly timeoutMs: number;
  private readonly signal: AbortSignal | undefined;

  constructor(
    private readonly endpoint: NotifyEndpoint,
    options: NotifyClientOptions = {},
  ) {
    this.retryDelaysMs = options.retryDelaysMs ?? DEFAULT_RETRY_DELAYS_MS;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.signal = options.signal;
  }

  /**
   * Sends one notification and resolves with Notify's id for it. A 429, a 5xx or no answer is retried after each of
   * the retry delays (a retried 5xx may have been sent already: the notice carries nothing, so a rare second one is
   * harmless); any other 4xx is not. @throws NotifyRequestError the last failure
   */
  async send(message: NotifyMessage): Promise<{ id: string | null }> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.post(message);
      } catch (error) {
        const failure = error instanceof NotifyRequestError ? error : new NotifyRequestError(null, []);
        const delay = this.retryDelaysMs[attempt];
        if (failure.isPermanent || delay === undefined || this.signal?.aborted) throw failure;
        await this.sleep(delay);
        if (this.signal?.aborted) throw failure;
      }
    }
  }

  private async post(message: NotifyMessage): Promise<{ id: string | null }> {
    const body =
      message.route === 'sms'
        ? { phone_number: message.recipient, template_id: message.templateId, ...(message.personalisation && { personalisation: message.personalisation }) }
        : { email_address: message.recipient, template_id: message.templateId, ...(message.personalisation && { personalisation: message.personalisation }) };
    const timeout = AbortSignal.timeout(this.timeoutMs);
    const response = await fetch(`${this.endpoint.baseUrl}/v2/notifications/${message.route}`, {
      method: 'POST',
      headers: {
        // The real time, not the gateway's Clock (a test may move that): Notify checks `iat` against its own.
        authorization: `Bearer ${notifyToken(this.endpoint.apiKey, new Date())}`,
        'content-type': 'application/json',
        'user-agent': 'parley-gateway',
      },
      body: JSON.stringify(body),
      signal: this.signal ? AbortSignal.any([this.signal, timeout]) : timeout,
    });
    const answer: unknown = await response.json().catch(() => null);
    if (!response.ok) throw new NotifyRequestError(response.status, errorNamesOf(answer));
    const id = (answer as { id?: unknown } | null)?.id;
    return { id: typeof id === 'string' ? id : null };
  }

  /** Waits `ms`, or less when aborted; the timer alone never keeps the process alive. */
  private sleep(ms: number): Promise<void> {
    const signal = this.signal;
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      timer.unref();
      signal?.addEventListener('abort', done, { once: true });
    });
  }
}

/** The `error` names of Notify's error shape `{ status_code, errors: [{ error, message }] }`. */
function errorNamesOf(answer: unknown): string[] {
  const errors = (answer as { errors?: unknown } | null)?.errors;
  if (!Array.isArray(errors)) return [];
  return errors.flatMap((entry: unknown) => {
    const name = (entry as { error?: unknown } | null)?.error;
    return typeof name === 'string' && /^[A-Za-z]{1,64}$/.test(name) ? [name] : [];
  });
}
