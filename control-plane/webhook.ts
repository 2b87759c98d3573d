import { Fifo } from '../streams/util/fifo.js';
import { type Logger, RateLimitedLog } from '../streams/util/logger.js';

export interface WebhookSenderOptions {
  /** Where each message is POSTed as JSON. */
  url: string;
  logger: Logger;
  /** Attempts per message, the first included. */
  maxAttempts?: number;
  /** Longest one request may take (connect, send, answer) before it counts as failed. */
  requestTimeoutMs?: number;
  /** Pause before the first retry; it doubles with each further one, up to `maxRetryDelayMs`. */
  firstRetryDelayMs?: number;
  maxRetryDelayMs?: number;
  /** Messages waiting for delivery; beyond it the oldest waiting one is dropped. */
  maxQueued?: number;
  /** Deliveries (with their retries) under way at once. */
  concurrency?: number;
  /** Source of randomness for the jitter (tests make it predictable). */
  random?: () => number;
}

/** The defaults of every delivery setting, in one place. */
export const WEBHOOK_DEFAULTS = {
  maxAttempts: 5,
  requestTimeoutMs: 5_000,
  firstRetryDelayMs: 500,
  maxRetryDelayMs: 8_000,
  maxQueued: 1_000,
  concurrency: 4,
  /** How long `close()` lets deliveries under way finish before it abandons them. */
  closeGraceMs: 2_000,
} as const;

/** Client errors that say "not now" rather than "never": retried like server errors. */
const RETRIABLE_CLIENT_STATUSES: ReadonlySet<number> = new Set([408, 429]);

export interface WebhookStats {
  /** Answered 2xx. */
  delivered: number;
  /** Attempts that failed and were tried again. */
  retried: number;
  /** Given up on: refused (4xx), or every attempt failed. */
  failed: number;
  /** Pushed out of a full queue before any attempt, oldest first. */
  dropped: number;
  /** Still queued or under way when `close()` gave up. */
  abandoned: number;
}

type AttemptResult =
  | { kind: 'delivered' }
  | { kind: 'refused'; detail: string }
  | { kind: 'retry'; detail: string };

/**
 * POSTs messages as JSON to one URL, each with retries and exponential backoff (with jitter),
 * a few at a time, from a bounded queue. `send()` returns at once: a slow, failing or
 * unreachable receiver costs memory up to the queue bound and nothing else. When the queue is
 * full the oldest waiting message is dropped (and counted), so what arrives is the most recent.
 * Deliveries run concurrently, so a receiver must not rely on arrival order.
 */
export class WebhookSender {
  readonly stats: WebhookStats = { delivered: 0, retried: 0, failed: 0, dropped: 0, abandoned: 0 };
  /** Bodies waiting for a delivery slot. */
  private readonly queue = new Fifo<string>();
  private active = 0;
  private closed = false;
  /** Aborts requests and backoff pauses under way when `close()` gives up on them. */
  private readonly abandon = new AbortController();
  private readonly idleWaiters: Array<() => void> = [];
  private readonly log: RateLimitedLog;
  private readonly settings: Required<Omit<WebhookSenderOptions, 'url' | 'logger'>>;
  /** The URL without path and query, which may hold a secret token: safe to log. */
  readonly origin: string;

  constructor(private readonly options: WebhookSenderOptions) {
    this.settings = {
      maxAttempts: options.maxAttempts ?? WEBHOOK_DEFAULTS.maxAttempts,
      requestTimeoutMs: options.requestTimeoutMs ?? WEBHOOK_DEFAULTS.requestTimeoutMs,
      firstRetryDelayMs: options.firstRetryDelayMs ?? WEBHOOK_DEFAULTS.firstRetryDelayMs,
      maxRetryDelayMs: options.maxRetryDelayMs ?? WEBHOOK_DEFAULTS.maxRetryDelayMs,
      maxQueued: Math.max(1, options.maxQueued ?? WEBHOOK_DEFAULTS.maxQueued),
      concurrency: Math.max(1, options.concurrency ?? WEBHOOK_DEFAULTS.concurrency),
      random: options.random ?? Math.random,
    };
    this.origin = new URL(options.url).origin;
    this.log = new RateLimitedLog(options.logger);
  }

  /** Queues one message for delivery and returns at once. Ignored after `close()`. */
  send(message: unknown): void {
    if (this.closed) return;
    if (this.queue.size >= this.settings.maxQueued) {
      this.queue.shift();
      this.stats.dropped++;
      this.log.warn(
        'dropped',
        `alert webhook at ${this.origin} is behind: ${this.settings.maxQueued} alerts wait, the oldest was dropped`,
      );
    }
    this.queue.push(JSON.stringify(message));
    this.startDeliveries();
  }

  /** Messages waiting for a delivery slot. */
  get queued(): number {
    return this.queue.size;
  }

  /** Messages being delivered (requests or backoff pauses under way). */
  get inFlight(): number {
    return this.active;
  }

  /**
   * Takes no more messages, gives the queued and running deliveries up to `graceMs` to finish,
   * then aborts the rest and counts them as abandoned.
   */
  async close(graceMs: number = WEBHOOK_DEFAULTS.closeGraceMs): Promise<void> {
    this.closed = true;
    if (this.active > 0 || this.queued > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, graceMs);
        this.idleWaiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    const left = this.queued + this.active;
    this.stats.abandoned += left;
    this.queue.clear();
    this.abandon.abort();
    if (left > 0) {
      this.options.logger.warn(`${left} alerts were not delivered to ${this.origin} before shutdown`);
    }
  }

  private startDeliveries(): void {
    while (this.active < this.settings.concurrency && this.queue.size > 0) {
      const body = this.queue.shift() as string;
      this.active++;
      void this.deliver(body).finally(() => {
        this.active--;
        if (!this.abandon.signal.aborted) this.startDeliveries();
        if (this.active === 0 && this.queued === 0) for (const wake of this.idleWaiters.splice(0)) wake();
      });
    }
  }

  private async deliver(body: string): Promise<void> {
    const { maxAttempts } = this.settings;
    for (let attempt = 1; attempt <= maxAttempts; attempt++) {
      const result = await this.attempt(body);
      if (this.abandon.signal.aborted) return;
      if (result.kind === 'delivered') {
        this.stats.delivered++;
        return;
      }
      if (result.kind === 'refused') {
        this.stats.failed++;
        this.log.warn(
          'refused',
          `alert webhook at ${this.origin} refused an alert (${result.detail}); it is not retried`,
        );
        return;
      }
      if (attempt === maxAttempts) {
        this.stats.failed++;
        this.log.warn(
          'failed',
          `alert webhook at ${this.origin} failed ${maxAttempts} times (last: ${result.detail}); the alert is given up`,
        );
        return;
      }
      this.stats.retried++;
      await this.pause(this.backoffMs(attempt));
      if (this.abandon.signal.aborted) return;
    }
  }

  private async attempt(body: string): Promise<AttemptResult> {
    try {
      const response = await fetch(this.options.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
        signal: AbortSignal.any([AbortSignal.timeout(this.settings.requestTimeoutMs), this.abandon.signal]),
        redirect: 'error',
      });
      // The answer's body is of no interest; reading it frees the connection for the next request.
      await response.arrayBuffer().catch(() => undefined);
      if (response.ok) return { kind: 'delivered' };
      const detail = `HTTP ${response.status}`;
      if (
        response.status >= 400 &&
        response.status < 500 &&
        !RETRIABLE_CLIENT_STATUSES.has(response.status)
      ) {
        return { kind: 'refused', detail };
      }
      return { kind: 'retry', detail };
    } catch (error) {
      const name = (error as Error).name;
      const detail =
        name === 'TimeoutError'
          ? `no answer within ${this.settings.requestTimeoutMs} ms`
          : describeFetchError(error as Error);
      return { kind: 'retry', detail };
    }
  }

  /** Exponential backoff with "equal jitter": between half and all of the doubled delay. */
  private backoffMs(failedAttempts: number): number {
    const { firstRetryDelayMs, maxRetryDelayMs, random } = this.settings;
    const delay = Math.min(maxRetryDelayMs, firstRetryDelayMs * 2 ** (failedAttempts - 1));
    return delay / 2 + (delay / 2) * random();
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const signal = this.abandon.signal;
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal.addEventListener('abort', done, { once: true });
    });
  }
}

/** fetch reports every network failure as "fetch failed"; the reason is in its cause. */
function describeFetchError(error: Error): string {
  const cause = error.cause as { code?: string; message?: string } | undefined;
  return cause?.code ?? cause?.message ?? error.message;
}
