import { setTimeout as sleep } from 'node:timers/promises';
import type { JetStreamClient } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { Fifo } from '../util/fifo.js';
import type { Logger } from '../util/logger.js';
import { AckInbox, type StoredMessage } from './ack-inbox.js';

/** Sends one message and resolves with its stream sequence once it is stored; rejects to be retried. */
export type SendUntilStored = (message: OutgoingMessage, timeoutMs: number) => Promise<number>;

export interface OrderedPublisherOptions {
  /**
   * Publishes straight to JetStream over this connection, its acknowledgements coming back to
   * one inbox (the cheapest way: see AckInbox)...
   */
  nc?: NatsConnection;
  /** ...or with `js.publish`, a request per message... */
  js?: JetStreamClient;
  /** ...or through another party that stores the message and says so (a worker's reports). */
  send?: SendUntilStored;
  logger: Logger;
  /** How long one publish waits for JetStream's acknowledgement before it is retried. */
  ackTimeoutMs?: number;
  /** First and longest pause between retries of one message. */
  retryDelayMs?: number;
  maxRetryDelayMs?: number;
  /**
   * Most publishes awaiting an acknowledgement at once, over all keys. Without a bound, a burst
   * (100 000 workers registering) sends everything at once: JetStream cannot acknowledge it
   * within the timeout, every message is retried, and the retries bury the server.
   */
  maxInFlight?: number;
  /**
   * Fencing: asked before every attempt to send a key's message. When it says no (this process
   * lost the right to write for that key), the key's queued messages are dropped, each rejected
   * with a FencedError, and none of them is sent.
   */
  mayPublish?: (key: string) => boolean;
}

/** Enough to keep JetStream busy (its acknowledgements come back in well under a millisecond each). */
export const DEFAULT_MAX_IN_FLIGHT = 1_024;

/** `messageId` (`Nats-Msg-Id`) makes a retry after a lost acknowledgement harmless. */
export type OutgoingMessage = StoredMessage;

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
 * never land behind its successor. At most `maxInFlight` messages (each of another key) await
 * their acknowledgement at once; keys with messages waiting take turns, first come first served.
 */
/** The publisher was told it may no longer write for this key (see `mayPublish`): the message was not sent. */
export class FencedError extends Error {
  constructor(key: string) {
    super(`not sent: this process no longer holds the right to write for ${key}`);
    this.name = 'FencedError';
  }
}

const FENCED = Symbol('fenced');

export class OrderedPublisher {
  private readonly queues = new Map<string, Pending[]>();
  /** Keys whose head message waits for an in-flight slot, in arrival order. */
  private readonly waitingKeys = new Fifo<string>();
  private inFlight = 0;
  private readonly idleWaiters: Array<() => void> = [];
  private closing = false;
  private pendingCount = 0;
  private readonly ackTimeoutMs: number;
  private readonly retryDelayMs: number;
  private readonly maxRetryDelayMs: number;
  private readonly maxInFlight: number;

  /** Totals since start, for logs, metrics and benchmarks. */
  /** fenced: messages dropped unsent because `mayPublish` said no. */
  readonly stats = { published: 0, retried: 0, peakInFlight: 0, fenced: 0 };

  private readonly send: SendUntilStored;
  private readonly ackInbox: AckInbox | undefined;

  constructor(private readonly options: OrderedPublisherOptions) {
    const { nc, js, send } = options;
    if (send) this.send = send;
    else if (nc) {
      const inbox = new AckInbox(nc);
      this.ackInbox = inbox;
      this.send = (message, timeout) => inbox.publish(message, timeout);
    } else if (js)
      this.send = async (message, timeout) =>
        (await js.publish(message.subject, message.payload, { msgID: message.messageId, timeout })).seq;
    else throw new Error('OrderedPublisher needs `nc`, `js` or `send`');
    this.ackTimeoutMs = options.ackTimeoutMs ?? 5_000;
    this.retryDelayMs = options.retryDelayMs ?? 50;
    this.maxRetryDelayMs = options.maxRetryDelayMs ?? 2_000;
    this.maxInFlight = Math.max(1, options.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT);
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
      this.waitingKeys.push(key);
      this.sendWaiting();
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
    this.waitingKeys.clear();
    this.pendingCount = 0;
    this.ackInbox?.close();
    return { unpublished };
  }

  /** Sends the head message of waiting keys while in-flight slots are free. */
  private sendWaiting(): void {
    while (this.inFlight < this.maxInFlight && !this.closing) {
      const key = this.waitingKeys.shift();
      if (key === undefined) return;
      this.inFlight++;
      if (this.inFlight > this.stats.peakInFlight) this.stats.peakInFlight = this.inFlight;
      void this.sendHead(key);
    }
  }

  private async sendHead(key: string): Promise<void> {
    const queue = this.queues.get(key);
    const head = queue?.[0];
    const streamSeq = head ? await this.publishUntilAcknowledged(key, head.message) : undefined;
    this.inFlight--;
    if (streamSeq === FENCED) {
      this.dropFenced(key);
      return;
    }
    if (!queue || !head || streamSeq === undefined) return; // closed while retrying; close() rejects what is left
    queue.shift();
    this.pendingCount--;
    this.stats.published++;
    head.resolve(streamSeq);
    // The key's next message goes to the back of the line, so one busy worker cannot starve the rest.
    if (queue.length > 0) this.waitingKeys.push(key);
    else this.queues.delete(key);
    this.sendWaiting();
    if (this.pendingCount === 0) for (const wake of this.idleWaiters.splice(0)) wake();
  }

  private dropFenced(key: string): void {
    const queue = this.queues.get(key) ?? [];
    this.queues.delete(key);
    this.pendingCount -= queue.length;
    this.stats.fenced += queue.length;
    for (const pending of queue) pending.reject(new FencedError(key));
    this.sendWaiting();
    if (this.pendingCount === 0) for (const wake of this.idleWaiters.splice(0)) wake();
  }

  private async publishUntilAcknowledged(
    key: string,
    message: OutgoingMessage,
  ): Promise<number | typeof FENCED | undefined> {
    let delayMs = this.retryDelayMs;
    let attempt = 0;
    while (!this.closing) {
      if (this.options.mayPublish && !this.options.mayPublish(key)) return FENCED;
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
