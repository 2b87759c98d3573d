import type { NatsConnection } from '@nats-io/transport-node';
import type { Resources } from '../projections/resources.js';
import { taskEventSubject } from '../streams/contracts/subjects.js';
import {
  encodeTaskEvent,
  type TaskEvent,
  type TaskReport,
  taskEventMessageId,
} from '../streams/contracts/task-events.js';
import { OrderedPublisher } from '../streams/nats/ordered-publisher.js';
import type { Logger } from '../streams/util/logger.js';
import { type DecisionKind, PendingDecisions } from './pending-decisions.js';

export interface DecisionPublisherOptions {
  nc: NatsConnection;
  logger: Logger;
  /** The TASKS sequence the scheduler has applied so far. */
  appliedPosition: () => number;
  /** A decision was settled: the queue may be worth another pass. */
  onSettled: () => void;
  /** A failed publish while stopping is expected, not worth a warning. */
  isStopping: () => boolean;
  /** Called after each decision is acknowledged by JetStream (benchmarks time placements with it). */
  onStored?: (event: TaskEvent, streamSeq: number) => void;
  /**
   * With several control planes: the scheduler's lease epoch, undefined once the lease is lost.
   * Nothing is written without one, and every decision carries it.
   */
  leaseEpoch?: () => number | undefined;
}

/**
 * The only way the scheduler writes TASKS: its decisions, kept pending until the stream
 * has them applied, and the workers' reports it stores on their behalf.
 */
export class DecisionPublisher {
  readonly pending = new PendingDecisions();
  private readonly publisher: OrderedPublisher;

  constructor(private readonly options: DecisionPublisherOptions) {
    const { leaseEpoch } = options;
    this.publisher = new OrderedPublisher({
      nc: options.nc,
      logger: options.logger,
      ...(leaseEpoch ? { mayPublish: () => leaseEpoch() !== undefined } : {}),
    });
  }

  /** Publishes a decision; the task stays pending until the stream has it applied. False if not stored. */
  publishDecision(
    event: TaskEvent,
    kind: DecisionKind,
    reservation: { workerId?: string; requests?: Resources } = {},
    onApplied?: () => void,
  ): Promise<boolean> {
    const stamped = this.stamped(event);
    const messageId = taskEventMessageId(stamped);
    this.pending.add({ messageId, taskId: event.taskId, kind, ...reservation, onApplied });
    return this.publisher
      .publish(event.taskId, {
        subject: taskEventSubject(event.taskId),
        payload: encodeTaskEvent(stamped),
        messageId,
      })
      .then((streamSeq) => {
        this.options.onStored?.(stamped, streamSeq);
        const settled = this.pending.stored(messageId, streamSeq, this.options.appliedPosition());
        if (settled) {
          settled.onApplied?.();
          this.options.onSettled();
        }
        return true;
      })
      .catch((error: Error) => {
        this.pending.remove(messageId);
        if (!this.options.isStopping())
          this.options.logger.warn(`${event.type} of task ${event.taskId} not stored: ${error.message}`);
        return false;
      });
  }

  private stamped(event: TaskEvent): TaskEvent {
    const epoch = this.options.leaseEpoch?.();
    return epoch === undefined ? event : { ...event, epoch };
  }

  /** Stores a worker's report; whether it still counts is the fold's call. */
  async publishReport(report: TaskReport): Promise<void> {
    await this.publisher.publish(report.taskId, {
      subject: taskEventSubject(report.taskId),
      payload: encodeTaskEvent(report),
      messageId: taskEventMessageId(report),
    });
  }

  /** Settles the decisions the stream has applied up to `position`; true if any was. */
  settleApplied(position: number): boolean {
    const applied = this.pending.applied(position);
    for (const decision of applied) decision.onApplied?.();
    return applied.length > 0;
  }

  async close(): Promise<void> {
    const { unpublished } = await this.publisher.close(3_000);
    if (unpublished > 0) {
      this.options.logger.warn(
        `${unpublished} scheduling events were not stored before shutdown; they are redone at start`,
      );
    }
  }
}
