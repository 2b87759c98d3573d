import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
import {
  decodeHeartbeat,
  HEARTBEAT_REJECTION_REASONS,
  type Heartbeat,
  type HeartbeatRejectionReason,
  truncate,
} from '../streams/contracts/heartbeat.js';
import { partitionOf } from '../streams/contracts/partitions.js';
import {
  HEARTBEAT_WILDCARD,
  parseHeartbeatSubject,
  partitionHeartbeatWildcard,
} from '../streams/contracts/subjects.js';
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

interface IntakeHandlers {
  onHeartbeat: HeartbeatIntakeOptions['onHeartbeat'];
  maxBytes: number;
  now: () => number;
  logger: Logger;
}

const REFUSAL_EXPLANATIONS: Partial<Record<HeartbeatRejectionReason, string>> = {
  'fleet-full':
    'fleet-full: the monitor already tracks as many workers as it may; raise CLOUDAI_MAX_WORKERS if this is a real worker',
};

export type RejectionCounts = Record<HeartbeatRejectionReason, number>;

/**
 * Takes the heartbeats of the partitions this control plane holds (`listen`), validates every
 * message and hands the good ones on. A server with the partition mapping delivers each
 * partition on its own subject; from a server without it, `heartbeat.<id>` arrives for every
 * worker and only those of held partitions are kept. Bad ones are counted by reason and logged
 * at a bounded rate, then dropped.
 */
export class HeartbeatIntake {
  readonly accepted = { count: 0 };
  readonly rejected: RejectionCounts = Object.fromEntries(
    HEARTBEAT_REJECTION_REASONS.map((reason) => [reason, 0]),
  ) as RejectionCounts;
  /** Heartbeats of partitions another control plane holds (servers without the mapping only). */
  readonly notOurs = { count: 0 };
  private readonly unmapped: Subscription;
  private readonly byPartition = new Map<number, Subscription>();
  /** Partitions watched for another control plane (see `shadow`), and when each of their workers was last heard. */
  private readonly shadowed = new Map<number, Subscription | undefined>();
  private readonly lastHeardInShadow = new Map<string, number>();
  private readonly log: RateLimitedLog;
  private readonly handlers: IntakeHandlers;

  constructor(private readonly options: HeartbeatIntakeOptions) {
    this.handlers = {
      onHeartbeat: options.onHeartbeat,
      maxBytes: options.maxHeartbeatBytes ?? DEFAULT_MAX_HEARTBEAT_BYTES,
      now: options.now ?? MONOTONIC_CLOCK.now,
      logger: options.logger,
    };
    this.log = new RateLimitedLog(options.logger);
    this.unmapped = this.subscribe(HEARTBEAT_WILDCARD, undefined);
  }

  /** Starts taking the heartbeats of a partition this control plane now holds. */
  listen(partition: number): void {
    if (this.byPartition.has(partition)) return;
    this.byPartition.set(partition, this.subscribe(partitionHeartbeatWildcard(partition), partition));
  }

  /** Stops taking a partition's heartbeats (it moved to another control plane). */
  stopListening(partition: number): void {
    const subscription = this.byPartition.get(partition);
    this.byPartition.delete(partition);
    subscription?.unsubscribe();
  }

  /**
   * Notes only the arrival time of a partition's heartbeats (no parsing, no judgement): the
   * partition is another control plane's, and this one would take it over if that one died.
   * Its workers' timeouts then run from their real last heartbeats (`lastHeardInShadowOf`).
   * `heardBefore`: when its workers were last heard while it was this one's.
   */
  shadow(partition: number, heardBefore: ReadonlyMap<string, number> = new Map()): void {
    if (this.shadowed.has(partition) || this.byPartition.has(partition)) return;
    for (const [workerId, heardAt] of heardBefore) this.lastHeardInShadow.set(workerId, heardAt);
    const now = this.handlers.now;
    const subscription = this.options.nc.subscribe(partitionHeartbeatWildcard(partition), {
      callback: (error, msg) => {
        if (error) return;
        const workerId = parseHeartbeatSubject(msg.subject)?.workerId;
        if (workerId !== undefined && partitionOf(workerId) === partition)
          this.lastHeardInShadow.set(workerId, now());
      },
    });
    this.shadowed.set(partition, subscription);
  }

  stopShadowing(partition: number): void {
    if (!this.shadowed.has(partition)) return;
    this.shadowed.get(partition)?.unsubscribe();
    this.shadowed.delete(partition);
    for (const workerId of this.lastHeardInShadow.keys()) {
      if (partitionOf(workerId) === partition) this.lastHeardInShadow.delete(workerId);
    }
  }

  /** Forgets when shadowed workers were last heard; the shadows go on noting arrivals. */
  forgetShadowedHeartbeats(): void {
    this.lastHeardInShadow.clear();
  }

  /** When a worker of a shadowed partition was last heard (the monotonic clock), if it was. */
  lastHeardInShadowOf(workerId: string): number | undefined {
    return this.lastHeardInShadow.get(workerId);
  }

  /** The partitions watched for another control plane. */
  get shadowedPartitions(): number[] {
    return [...this.shadowed.keys()].sort((a, b) => a - b);
  }

  /** The partitions whose heartbeats are taken. */
  get partitions(): number[] {
    return [...this.byPartition.keys()].sort((a, b) => a - b);
  }

  /** `partition`: the one this subject carries; undefined for unmapped heartbeats of any partition. */
  private subscribe(subject: string, partition: number | undefined): Subscription {
    return this.options.nc.subscribe(subject, {
      callback: (error, msg) => {
        if (error) {
          this.options.logger.warn(`heartbeat subscription ${subject}: ${error.message}`);
          return;
        }
        if (partition === undefined && !this.isOurs(msg)) {
          this.notOurs.count++;
          return;
        }
        this.handle(msg, partition);
      },
    });
  }

  /** A heartbeat from a server without the mapping belongs to us if its partition is held; a malformed subject is judged by `handle`. */
  private isOurs(msg: Msg): boolean {
    const parsed = parseHeartbeatSubject(msg.subject);
    if (parsed === undefined) return true;
    const partition = partitionOf(parsed.workerId);
    if (this.byPartition.has(partition)) return true;
    if (this.shadowed.has(partition)) this.lastHeardInShadow.set(parsed.workerId, this.handlers.now());
    return false;
  }

  private handle(msg: Msg, partition?: number): void {
    const { onHeartbeat, maxBytes, now, logger } = this.handlers;
    const receivedAt = now();
    if (partition !== undefined) {
      // Published straight to heartbeat.<p>.<id> rather than mapped by the server: a worker must
      // not land in a partition that is not its own (two control planes would judge it).
      const workerId = parseHeartbeatSubject(msg.subject)?.workerId;
      if (workerId !== undefined && partitionOf(workerId) !== partition) {
        this.rejected['invalid-subject']++;
        this.log.warn(
          'invalid-subject',
          `rejected heartbeat on ${truncate(msg.subject)}: invalid-subject: worker ${truncate(workerId)} belongs to partition ${partitionOf(workerId)}`,
        );
        return;
      }
    }
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
      const refusal = onHeartbeat(result.heartbeat, receivedAt);
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
      logger.error(`heartbeat handler failed: ${(handlerError as Error).stack ?? handlerError}`);
    }
  }

  get totalRejected(): number {
    let total = 0;
    for (const reason of HEARTBEAT_REJECTION_REASONS) total += this.rejected[reason];
    return total;
  }

  /** Stops taking heartbeats; messages already buffered are still handled. */
  async drain(): Promise<void> {
    for (const partition of this.shadowedPartitions) this.stopShadowing(partition);
    for (const subscription of [this.unmapped, ...this.byPartition.values()]) {
      if (!subscription.isClosed()) await subscription.drain();
    }
  }
}
