import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import {
  decodeHeartbeat,
  HEARTBEAT_REJECTION_REASONS,
  type Heartbeat,
  type HeartbeatRejectionReason,
  truncate,
} from '../streams/contracts/heartbeat.js';
import { HEARTBEAT_WILDCARD } from '../streams/contracts/subjects.js';
import { MONOTONIC_CLOCK } from '../streams/util/clock.js';
import { type Logger, RateLimitedLog } from '../streams/util/logger.js';

/** Heartbeats are tiny; anything this large is garbage or an attack. */
export const DEFAULT_MAX_HEARTBEAT_BYTES = 64 * 1024;

export interface HeartbeatIntakeOptions {
  nc: NatsConnection;
  logger: Logger;
  /**
   * Called for each valid heartbeat with the monitor's own receive time (never the worker's
   * `sentAt`). Returning a reason refuses the heartbeat after all: it is counted and logged.
   */
  onHeartbeat: (heartbeat: Heartbeat, receivedAt: number) => HeartbeatRejectionReason | undefined;
  maxHeartbeatBytes?: number;
  /** The clock of `receivedAt`: the monotonic one, as the fleet's timers run on it. */
  now?: () => number;
}

const REFUSAL_EXPLANATIONS: Partial<Record<HeartbeatRejectionReason, string>> = {
  'fleet-full':
    'fleet-full: the monitor already tracks as many workers as it may; raise CLOUDAI_MAX_WORKERS if this is a real worker',
};

export type RejectionCounts = Record<HeartbeatRejectionReason, number>;

/**
 * Subscribes to `heartbeat.*`, validates every message and hands the good ones on.
 * Bad ones are counted by reason and logged at a bounded rate, then dropped.
 */
export class HeartbeatIntake {
  readonly accepted = { count: 0 };
  readonly rejected: RejectionCounts = Object.fromEntries(
    HEARTBEAT_REJECTION_REASONS.map((reason) => [reason, 0]),
  ) as RejectionCounts;
  private readonly subscription: Subscription;
  private readonly log: RateLimitedLog;

  constructor(options: HeartbeatIntakeOptions) {
    const maxBytes = options.maxHeartbeatBytes ?? DEFAULT_MAX_HEARTBEAT_BYTES;
    const now = options.now ?? MONOTONIC_CLOCK.now;
    this.log = new RateLimitedLog(options.logger);
    this.subscription = options.nc.subscribe(HEARTBEAT_WILDCARD, {
      callback: (error, msg) => {
        if (error) {
          options.logger.warn(`heartbeat subscription: ${error.message}`);
          return;
        }
        const receivedAt = now();
        const result = decodeHeartbeat(msg.subject, msg.data, maxBytes);
        if (!result.ok) {
          this.rejected[result.reason]++;
          this.log.warn(
            result.reason,
            `rejected heartbeat on ${truncate(msg.subject)}: ${result.reason}: ${result.detail}`,
          );
          return;
        }
        try {
          const refusal = options.onHeartbeat(result.heartbeat, receivedAt);
          if (refusal) {
            this.rejected[refusal]++;
            this.log.warn(
              refusal,
              `refused heartbeat of ${result.heartbeat.workerId}: ${REFUSAL_EXPLANATIONS[refusal] ?? refusal}`,
            );
          } else {
            this.accepted.count++;
          }
        } catch (handlerError) {
          // A bug downstream must not kill the subscription that keeps every other worker alive.
          options.logger.error(`heartbeat handler failed: ${(handlerError as Error).stack ?? handlerError}`);
        }
      },
    });
  }

  get totalRejected(): number {
    let total = 0;
    for (const reason of HEARTBEAT_REJECTION_REASONS) total += this.rejected[reason];
    return total;
  }

  /** Stops taking heartbeats; messages already buffered are still handled. */
  async drain(): Promise<void> {
    if (!this.subscription.isClosed()) await this.subscription.drain();
  }
}
