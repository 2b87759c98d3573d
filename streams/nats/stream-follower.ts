import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  AckPolicy,
  type ConsumerMessages,
  DeliverPolicy,
  JetStreamApiError,
  type JetStreamManager,
  type JsMsg,
  jetstream,
  jetstreamManager,
} from '@nats-io/jetstream';
import { type NatsConnection, nanos } from '@nats-io/transport-node';
import type { Logger } from '../util/logger.js';

export interface StreamFollowerOptions {
  nc: NatsConnection;
  stream: string;
  /** Names the durable consumer; followers with different identities never share one. */
  identity: string;
  /** The last stream sequence the caller has already applied; delivery starts after it. */
  startAfter: number;
  /**
   * Applies a batch (in stream order) and resolves once it is stored. Messages are
   * acknowledged only afterwards, so a crash mid-batch means redelivery, never loss.
   */
  applyBatch: (messages: JsMsg[]) => Promise<void>;
  logger: Logger;
  maxBatch?: number;
}

const CONSUMER_NOT_FOUND = 10014;

/** A durable consumer's name for a follower identity (e.g. the read model's path). */
export function durableName(prefix: string, identity: string): string {
  return `${prefix}_${createHash('sha256').update(identity).digest('hex').slice(0, 12)}`;
}

/**
 * Follows a stream through a durable pull consumer, handing over batches of messages in
 * stream order, one batch at a time.
 *
 * The caller's store, not the consumer, is the source of truth for how far it got: at start
 * the consumer is recreated to begin right after `startAfter`. That makes a fresh or rebuilt
 * store catch up from the right place, and avoids waiting out `ack_wait` for messages that a
 * crashed predecessor had received but not acknowledged. Batches may still repeat messages
 * the store already holds (a crash between commit and ack); callers skip those by sequence.
 */
export class StreamFollower {
  private messages?: ConsumerMessages;
  private batch: JsMsg[] = [];
  private flushScheduled = false;
  private flushing?: Promise<void>;
  private closed = false;
  private readonly maxBatch: number;
  readonly consumerName: string;

  private constructor(private readonly options: StreamFollowerOptions) {
    this.maxBatch = options.maxBatch ?? 2_000;
    this.consumerName = durableName(options.stream.toLowerCase(), options.identity);
  }

  static async start(options: StreamFollowerOptions): Promise<StreamFollower> {
    const follower = new StreamFollower(options);
    await follower.recreateConsumer(await jetstreamManager(options.nc));
    await follower.consume();
    return follower;
  }

  /** Asks for a flush of whatever is buffered now, outside the normal cadence (e.g. heartbeat samples). */
  requestFlush(): void {
    this.scheduleFlush();
  }

  /** Stops receiving, waits for the batch being applied, and acknowledges it. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.messages?.stop();
    // Apply what was already received: it was delivered, and applying it now saves a redelivery.
    while (this.flushing || this.batch.length > 0) {
      if (this.flushing) await this.flushing;
      else await this.flush();
    }
  }

  private async recreateConsumer(jsm: JetStreamManager): Promise<void> {
    try {
      await jsm.consumers.delete(this.options.stream, this.consumerName);
    } catch (error) {
      if (!(error instanceof JetStreamApiError) || error.code !== CONSUMER_NOT_FOUND) throw error;
    }
    await jsm.consumers.add(this.options.stream, {
      durable_name: this.consumerName,
      ack_policy: AckPolicy.All,
      ...(this.options.startAfter > 0
        ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: this.options.startAfter + 1 }
        : { deliver_policy: DeliverPolicy.All }),
      max_ack_pending: 20_000,
      ack_wait: nanos(60_000),
      // A follower that never comes back (a deleted data dir) must not pin a consumer forever.
      inactive_threshold: nanos(24 * 60 * 60_000),
    });
  }

  private async consume(): Promise<void> {
    const consumer = await jetstream(this.options.nc).consumers.get(this.options.stream, this.consumerName);
    this.messages = await consumer.consume({
      max_messages: this.maxBatch,
      callback: (msg) => {
        this.batch.push(msg);
        this.scheduleFlush();
      },
    });
  }

  private scheduleFlush(): void {
    if (this.flushScheduled || this.flushing) return;
    this.flushScheduled = true;
    // setImmediate lets every message already read from the socket join this batch.
    setImmediate(() => {
      this.flushScheduled = false;
      void this.flush();
    });
  }

  private async flush(): Promise<void> {
    if (this.flushing) return;
    const batch = this.batch.splice(0, this.batch.length);
    this.flushing = (async () => {
      try {
        await this.options.applyBatch(batch);
        // AckPolicy.All: acknowledging the last message acknowledges the whole batch.
        batch.at(-1)?.ack();
      } catch (error) {
        this.options.logger.error(
          `applying ${batch.length} messages of ${this.options.stream} failed: ${(error as Error).message}; ` +
            'they will be retried',
        );
        // Unacknowledged messages are redelivered after a restart, so on close they can be let go.
        if (!this.closed) {
          this.batch.unshift(...batch);
          await sleep(500);
        }
      }
    })();
    await this.flushing;
    this.flushing = undefined;
    if (this.batch.length > 0 && !this.closed) this.scheduleFlush();
  }
}
