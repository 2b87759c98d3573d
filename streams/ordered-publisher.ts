import type { JetStreamClient } from '@nats-io/jetstream';
import type { Logger } from './logger.js';

/** Sends one message and resolves with its stream sequence once it is stored; rejects to be retried. */
export type SendUntilStored = (message: OutgoingMessage, timeoutMs: number) => Promise<number>;

export interface OrderedPublisherOptions {
  /** Publishes straight to JetStream... */
  js?: JetStreamClient;
  /** ...or through another party that stores the message and says so (a worker's reports). */
  send?: SendUntilStored;
  logger: Logger;
  /** How long one publish waits for JetStream's acknowledgement before it is retried. */
  ackTimeoutMs?: number;
  /** First and longest pause between retries of one message. */
  retryDelayMs?: number;
  maxRetryDelayMs?: number;
}

export interface OutgoingMessage {
  subject: string;
  payload: Uint8Array;
  /** `Nats-Msg-Id`: makes a retry after a lost acknowledgement harmless. */
  messageId: string;
}

interface Pending {
  message: OutgoingMessage;
  resolve: (streamSeq: number) => void;
  reject: (error: Error) => void;
}

export class PublisherClosedError extends Error {
  constructor(messageId: string) {
    super(`publisher closed before ${messageId} was acknowledged`);
    this.name = 'PublisherClosedError';
  }
}

/**
 * Publishes to JetStream in order per key, retrying each message until it is acknowledged.
 * Keys are independent (one worker's backlog never delays another's), but within a key a
 * message is sent only after the one before it is stored: a retried message can therefore
 * never land behind its successor.
 */
export class OrderedPublisher {
  private readonly queues = new Map<string, Pending[]>();
  private readonly idleWaiters: Array<() => void> = [];
  private closing = false;
  private pendingCount = 0;
  private readonly ackTimeoutMs: number;
  private readonly retryDelayMs: number;
  private readonly maxRetryDelayMs: number;

  /** Totals since start, for logs, metrics and benchmarks. */
  readonly stats = { published: 0, retried: 0 };

  private readonly send: SendUntilStored;

  constructor(private readonly options: OrderedPublisherOptions) {
    const { js, send } = options;
    if (send) this.send = send;
    else if (js)
      this.send = async (message, timeout) =>
        (await js.publish(message.subject, message.payload, { msgID: message.messageId, timeout })).seq;
    else throw new Error('OrderedPublisher needs `js` or `send`');
    this.ackTimeoutMs = options.ackTimeoutMs ?? 5_000;
    this.retryDelayMs = options.retryDelayMs ?? 50;
    this.maxRetryDelayMs = options.maxRetryDelayMs ?? 2_000;
  }

  /** Queues a message behind every earlier one of the same key; resolves with its stream sequence. */
  publish(key: string, message: OutgoingMessage): Promise<number> {
    if (this.closing) return Promise.reject(new PublisherClosedError(message.messageId));
    return new Promise<number>((resolve, reject) => {
      const pending: Pending = { message, resolve, reject };
      this.pendingCount++;
      const queue = this.queues.get(key);
      if (queue) {
        queue.push(pending);
        return;
      }
      this.queues.set(key, [pending]);
      void this.drainKey(key);
    });
  }

  /** Messages accepted but not yet acknowledged. */
  get pending(): number {
    return this.pendingCount;
  }

  /** Resolves once every queued message is acknowledged (or `timeoutMs` passes); returns whether all were. */
  async flush(timeoutMs = Number.POSITIVE_INFINITY): Promise<boolean> {
    if (this.pendingCount === 0) return true;
    return new Promise<boolean>((resolve) => {
      const timer = Number.isFinite(timeoutMs)
        ? setTimeout(() => resolve(this.pendingCount === 0), timeoutMs)
        : undefined;
      this.idleWaiters.push(() => {
        if (timer) clearTimeout(timer);
        resolve(true);
      });
    });
  }

  /** Gives queued messages up to `timeoutMs` to be acknowledged, then rejects the rest. */
  async close(timeoutMs = 5_000): Promise<{ unpublished: number }> {
    await this.flush(timeoutMs);
    this.closing = true;
    let unpublished = 0;
    for (const queue of this.queues.values()) {
      for (const pending of queue.splice(0)) {
        unpublished++;
        pending.reject(new PublisherClosedError(pending.message.messageId));
      }
    }
    this.queues.clear();
    this.pendingCount = 0;
    return { unpublished };
  }

  private async drainKey(key: string): Promise<void> {
    const queue = this.queues.get(key);
    while (queue && queue.length > 0 && !this.closing) {
      const head = queue[0] as Pending;
      const streamSeq = await this.publishUntilAcknowledged(head.message);
      if (streamSeq === undefined) return; // closed while retrying; close() rejects what is left
      queue.shift();
      this.pendingCount--;
      this.stats.published++;
      head.resolve(streamSeq);
    }
    if (queue && queue.length === 0) this.queues.delete(key);
    if (this.pendingCount === 0) for (const wake of this.idleWaiters.splice(0)) wake();
  }

  private async publishUntilAcknowledged(message: OutgoingMessage): Promise<number | undefined> {
    let delayMs = this.retryDelayMs;
    let attempt = 0;
    while (!this.closing) {
      try {
        return await this.send(message, this.ackTimeoutMs);
      } catch (error) {
        attempt++;
        this.stats.retried++;
        if (attempt === 1 || attempt % 20 === 0) {
          this.options.logger.warn(
            `publish of ${message.messageId} not acknowledged (${(error as Error).message}); retry ${attempt}, ` +
              'it is kept and retried until JetStream stores it',
          );
        }
        await sleep(delayMs);
        delayMs = Math.min(delayMs * 2, this.maxRetryDelayMs);
      }
    }
    return undefined;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
