import { partitionOf } from '../streams/contracts/partitions.js';
import { isUserIntent, type SchedulerTaken, type TaskEvent } from '../streams/contracts/task-events.js';
import {
  isDisruptionEvent,
  type PartitionTaken,
  type WorkerStreamEvent,
} from '../streams/contracts/worker-events.js';

/** The newest epoch under which each partition was taken, as the markers stored so far say. */
export type PartitionEpochs = Readonly<Record<number, number>>;

/**
 * Reader-side fencing of WORKER_EVENTS; pure. A control plane that lost a partition writes
 * nothing more for it, but an event it sent just before can be held up on the network and
 * stored after the next holder's PartitionTaken marker: such an event (an older epoch than the
 * partition's newest) is not applied. Events without an epoch (older versions, tests) are.
 */
export class WriterFence {
  private readonly epochs = new Map<number, number>();

  constructor(epochs: PartitionEpochs = {}) {
    for (const [partition, epoch] of Object.entries(epochs)) this.epochs.set(Number(partition), epoch);
  }

  /** A marker: its partition's epoch is this one from now on (if newer). */
  take(marker: PartitionTaken): void {
    if (marker.epoch > (this.epochs.get(marker.partition) ?? 0))
      this.epochs.set(marker.partition, marker.epoch);
  }

  /** Whether the event may be applied: not written under an epoch older than its partition's. */
  admits(event: WorkerStreamEvent): boolean {
    if (isDisruptionEvent(event) || event.epoch === undefined) return true;
    return event.epoch >= (this.epochs.get(partitionOf(event.workerId)) ?? 0);
  }

  toRecord(): Record<number, number> {
    return Object.fromEntries(this.epochs);
  }
}

/**
 * The same for TASKS: one scheduler at a time, so one epoch. A decision written under an older
 * epoch than the newest SchedulerTaken marker is not applied; reports (no epoch) and the users'
 * submissions and cancellations always are.
 */
export class DecisionFence {
  constructor(private epoch = 0) {}

  take(marker: SchedulerTaken): void {
    this.epoch = Math.max(this.epoch, marker.epoch);
  }

  admits(event: TaskEvent): boolean {
    return event.epoch === undefined || isUserIntent(event) || event.epoch >= this.epoch;
  }

  get currentEpoch(): number {
    return this.epoch;
  }
}
