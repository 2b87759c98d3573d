import type { OperatorOutcome } from '../actors/liveness-settings.js';
import type { WorkerDocument } from '../projections/worker-document.js';
import type { DrainEndedBy } from '../streams/contracts/worker-events.js';
import { type Clock, MONOTONIC_CLOCK, wallNow } from '../streams/util/clock.js';
import type { Logger } from '../streams/util/logger.js';

/** What the coordinator asks of the fleet, which numbers and emits the drain's events. */
export interface DrainFleet {
  drain(workerId: string, deadlineMs: number, remainingTasks: number): OperatorOutcome;
  drainProgress(workerId: string, remainingTasks: number): void;
  endDrain(workerId: string, endedBy: DrainEndedBy, remainingTasks: number): void;
  cancelDrain(workerId: string): OperatorOutcome;
  isDraining(workerId: string): boolean;
}

/** What an operator may ask about drains (`cloudai workers drain ID [--deadline D] [--cancel]`). */
export interface DrainControls {
  start(workerId: string, deadlineMs: number): OperatorOutcome;
  cancel(workerId: string): OperatorOutcome;
}

export interface DrainCoordinatorOptions {
  fleet: DrainFleet;
  /** Tasks assigned to or running on the worker, as the read model holds them now. */
  tasksHeldBy: (workerId: string) => number;
  logger: Logger;
  clock?: Clock;
}

interface Drain {
  timer: unknown;
  remainingTasks: number;
}

/**
 * Runs the drains: starts one with the worker's task count, follows its tasks as the task
 * projection moves them (WorkerDrainProgress, WorkerDrained once none is left), and at the
 * deadline ends it with the tasks still there, which the scheduler then stops and requeues.
 * The deadline timer runs on the monotonic clock; after a restart it is re-armed from the
 * deadline the event log holds (a wall-clock time: nothing else survives a restart).
 */
export class DrainCoordinator implements DrainControls {
  private readonly drains = new Map<string, Drain>();
  private readonly clock: Clock;

  constructor(private readonly options: DrainCoordinatorOptions) {
    this.clock = options.clock ?? MONOTONIC_CLOCK;
  }

  start(workerId: string, deadlineMs: number): OperatorOutcome {
    const remainingTasks = this.options.tasksHeldBy(workerId);
    const outcome = this.options.fleet.drain(workerId, deadlineMs, remainingTasks);
    if (outcome.ok) this.follow(workerId, deadlineMs, remainingTasks);
    return outcome;
  }

  cancel(workerId: string): OperatorOutcome {
    const outcome = this.options.fleet.cancelDrain(workerId);
    if (outcome.ok) this.forget(workerId);
    return outcome;
  }

  /** The task projection changed what these workers hold. */
  holdingsChanged(workerIds: Iterable<string>): void {
    if (this.drains.size === 0) return;
    for (const workerId of workerIds) {
      const drain = this.drains.get(workerId);
      if (!drain) continue;
      const remainingTasks = this.options.tasksHeldBy(workerId);
      if (remainingTasks === drain.remainingTasks) continue;
      drain.remainingTasks = remainingTasks;
      if (remainingTasks === 0) this.end(workerId, 'tasks-finished', 0);
      else this.options.fleet.drainProgress(workerId, remainingTasks);
    }
  }

  /** Takes up the drains the event log left under way (after the fleet was restored from it). */
  restore(workers: readonly WorkerDocument[]): void {
    const now = wallNow(this.clock);
    for (const worker of workers) {
      if (!worker.drain || !this.options.fleet.isDraining(worker.workerId)) continue;
      const left = Math.max(0, worker.drain.deadlineAt - now);
      this.follow(worker.workerId, left, worker.drain.remainingTasks);
      // Tasks may have ended while no control plane watched.
      this.holdingsChanged([worker.workerId]);
    }
    if (this.drains.size > 0) this.options.logger.info(`took up ${this.drains.size} drains under way`);
  }

  get underWay(): number {
    return this.drains.size;
  }

  close(): void {
    this.stopFollowing([...this.drains.keys()]);
  }

  /** Another control plane runs these workers' drains now (their partition moved). */
  stopFollowing(workerIds: Iterable<string>): void {
    for (const workerId of workerIds) this.forget(workerId);
  }

  private follow(workerId: string, deadlineMs: number, remainingTasks: number): void {
    const timer = this.clock.setTimeout(() => this.deadlineCame(workerId), deadlineMs);
    this.drains.set(workerId, { timer, remainingTasks });
    if (remainingTasks === 0) this.end(workerId, 'tasks-finished', 0);
  }

  private deadlineCame(workerId: string): void {
    const remainingTasks = this.options.tasksHeldBy(workerId);
    this.options.logger.info(
      `drain of ${workerId}: the deadline came with ${remainingTasks} tasks still there; they are stopped and requeued`,
    );
    this.end(workerId, remainingTasks === 0 ? 'tasks-finished' : 'deadline', remainingTasks);
  }

  private end(workerId: string, endedBy: DrainEndedBy, remainingTasks: number): void {
    this.forget(workerId);
    this.options.fleet.endDrain(workerId, endedBy, remainingTasks);
  }

  private forget(workerId: string): void {
    const drain = this.drains.get(workerId);
    if (drain) this.clock.clearTimeout(drain.timer);
    this.drains.delete(workerId);
  }
}
