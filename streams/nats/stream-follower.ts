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
/**
 * How long one pull request lasts. nats.js re-pulls after twice the idle heartbeat (half of
 * this) goes missing, and retries the consumer's info at this pace after a reconnect: when a
 * clustered server dies and the consumer's leader is re-elected, its default (30 s) would
 * leave the read model that long behind.
 */
const PULL_EXPIRES_MS = 5_000;
/** Pause between attempts to recreate a lost consumer (NATS may be down as well). */
const RECOVERY_RETRY_MS = 500;

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
 *
 * In consume mode nats.js does not stop when the consumer is deleted (by an operator, or by the
 * server after `inactive_threshold`): it only reports it in the consumer's status, and the
 * follower would wait in silence. It watches that status, says so, and recreates the consumer
 * from the last position it stored.
 */
export class StreamFollower {
  private messages?: ConsumerMessages;
  private batch: JsMsg[] = [];
  private flushScheduled = false;
  /** A flush was asked for while one ran: another follows it. */
  private flushRequested = false;
  private flushing?: Promise<void>;
  private closed = false;
  /** The last stream sequence applied and stored: where a recreated consumer starts after. */
  private applied: number;
  /** Counts consumers: messages still arriving from a replaced one are ignored. */
  private generation = 0;
  private readonly maxBatch: number;
  readonly consumerName: string;

  private constructor(private readonly options: StreamFollowerOptions) {
    this.maxBatch = options.maxBatch ?? 2_000;
    this.applied = options.startAfter;
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
    if (this.flushing) this.flushRequested = true;
    else this.scheduleFlush();
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
    const startAfter = this.applied;
    try {
      await jsm.consumers.delete(this.options.stream, this.consumerName);
    } catch (error) {
      if (!(error instanceof JetStreamApiError) || error.code !== CONSUMER_NOT_FOUND) throw error;
    }
    await jsm.consumers.add(this.options.stream, {
      durable_name: this.consumerName,
      ack_policy: AckPolicy.All,
      ...(startAfter > 0
        ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: startAfter + 1 }
        : { deliver_policy: DeliverPolicy.All }),
      max_ack_pending: 20_000,
      ack_wait: nanos(60_000),
      // A follower that never comes back (a deleted data dir) must not pin a consumer forever.
      inactive_threshold: nanos(24 * 60 * 60_000),
    });
  }

  private async consume(): Promise<void> {
    const consumer = await jetstream(this.options.nc).consumers.get(this.options.stream, this.consumerName);
    const generation = ++this.generation;
    const messages = await consumer.consume({
      max_messages: this.maxBatch,
      expires: PULL_EXPIRES_MS,
      callback: (msg) => {
        if (generation !== this.generation) return;
        this.batch.push(msg);
        this.scheduleFlush();
      },
    });
    this.messages = messages;
    void this.watchStatus(messages, generation);
  }

  /** Recreates the consumer when its status reports it gone; everything else there is informational. */
  private async watchStatus(messages: ConsumerMessages, generation: number): Promise<void> {
    for await (const status of messages.status()) {
      if (this.closed || generation !== this.generation) return;
      if (status.type !== 'consumer_deleted' && status.type !== 'consumer_not_found') continue;
      this.options.logger.warn(
        `consumer ${this.consumerName} of ${this.options.stream} is gone (${status.type}): ` +
          `recreating it from stream sequence ${this.applied + 1}`,
      );
      await this.recover(messages);
      return;
    }
  }

  /** Stops the lost consumer, lets the batch being applied finish, and follows on from what is stored. */
  private async recover(lost: ConsumerMessages): Promise<void> {
    this.generation++;
    lost.stop();
    while (!this.closed) {
      try {
        if (this.flushing) await this.flushing;
        // Received from the lost consumer but not applied: the new one delivers them again.
        this.batch.length = 0;
        await this.recreateConsumer(await jetstreamManager(this.options.nc));
        if (this.closed) return;
        await this.consume();
        this.options.logger.info(`consumer ${this.consumerName} of ${this.options.stream} recreated`);
        return;
      } catch (error) {
        this.options.logger.error(
          `recreating consumer ${this.consumerName} of ${this.options.stream} failed: ` +
            `${(error as Error).message}; retrying`,
        );
        await sleep(RECOVERY_RETRY_MS);
      }
    }
  }

  private scheduleFlush(): void {
    if (this.flushScheduled || this.flushing) return;
    this.flushScheduled = true;
    // setImmediate lets every message already read from the socket join this batch.
    setImmediate(() => {
      this.flushScheduled = false;
      // Closed meanwhile: `close` applied what was received, and what it applies to may be gone.
      if (!this.closed) void this.flush();
    });
  }

  private async flush(): Promise<void> {
    if (this.flushing) return;
    const batch = this.batch.splice(0, this.batch.length);
    this.flushing = (async () => {
      try {
        await this.options.applyBatch(batch);
        this.applied = Math.max(this.applied, batch.at(-1)?.seq ?? 0);
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
    const requested = this.flushRequested;
    this.flushRequested = false;
    if ((this.batch.length > 0 || requested) && !this.closed) this.scheduleFlush();
  }
}
