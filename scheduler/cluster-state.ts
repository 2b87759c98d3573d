import {
  type DisruptionDocument,
  evolveDisruption,
  evolveDisruptionOnTakeover,
} from '../projections/disruption-document.js';
import { NO_RESOURCES, type Resources, sumResources } from '../projections/resources.js';
import {
  bySubmission,
  evolveTask,
  holdingOf,
  isTerminal,
  type TaskDocument,
  whyIgnored,
} from '../projections/task-document.js';
import { evolveWorkerStatus, type WorkerDocument } from '../projections/worker-document.js';
import type { TaskEvent, TaskStatus } from '../streams/contracts/task-events.js';
import type { DisruptionEvent, PartitionTaken, WorkerEvent } from '../streams/contracts/worker-events.js';

/** The read model as the scheduler loads it at start: documents and the stream positions they reflect. */
export interface ClusterSnapshot {
  workers: readonly WorkerDocument[];
  tasks: readonly TaskDocument[];
  /** Whether the fleet was in disruption mode at `workerPosition`. */
  disruption: DisruptionDocument;
  workerPosition: number;
  taskPosition: number;
  /** The scheduler epoch at `taskPosition`; none before several control planes. */
  schedulerEpoch?: number;
}

export type WorkerChange = { before: WorkerDocument | undefined; after: WorkerDocument };

export type DisruptionChange = { before: DisruptionDocument; after: DisruptionDocument };

export type TaskChange =
  | { applied: true; before: TaskDocument | undefined; after: TaskDocument }
  | { applied: false; why: string };

/**
 * The scheduler's memory of the cluster: the same folds as the read model, applied in stream
 * order from the read model's positions on, plus an index of what each worker holds. Finished
 * tasks are kept only as id → status, so memory grows with the work in progress, not with history.
 */
export class ClusterState {
  readonly workers = new Map<string, WorkerDocument>();
  private readonly tasks = new Map<string, TaskDocument>();
  private readonly finished = new Map<string, TaskStatus>();
  /** The queued ones of `tasks`: a pass looks at these, not at every task in progress. */
  private readonly queuedTasks = new Map<string, TaskDocument>();
  /** workerId → taskId → requests of each task assigned to or running on it. */
  private readonly holdings = new Map<string, Map<string, Resources>>();
  /** Workers whose document or holdings changed since `takeChangedWorkers`. */
  private changedWorkers = new Set<string>();
  /** Disruption mode as folded from WORKER_EVENTS: while it is active the scheduler requeues nothing. */
  disruption: DisruptionDocument;
  /** Last stream sequence applied (or skipped as invalid), per stream. */
  workerPosition: number;
  taskPosition: number;

  constructor(snapshot: ClusterSnapshot) {
    for (const worker of snapshot.workers) {
      this.workers.set(worker.workerId, worker);
      this.changedWorkers.add(worker.workerId);
    }
    for (const task of snapshot.tasks) this.remember(undefined, task);
    this.disruption = snapshot.disruption;
    this.workerPosition = snapshot.workerPosition;
    this.taskPosition = snapshot.taskPosition;
  }

  /**
   * Applies one WORKER_EVENTS event; undefined when the fold ignores it. The caller walks the
   * stream (skipping what was applied before) and keeps `workerPosition`.
   */
  applyWorkerEvent(event: WorkerEvent): WorkerChange | undefined {
    const before = this.workers.get(event.workerId);
    const after = evolveWorkerStatus(before, event);
    if (after === before) return undefined;
    this.workers.set(event.workerId, after);
    this.changedWorkers.add(event.workerId);
    return { before, after };
  }

  /** Applies one disruption event of WORKER_EVENTS; undefined when the fold ignores it. */
  applyDisruptionEvent(event: DisruptionEvent): DisruptionChange | undefined {
    const before = this.disruption;
    const after = evolveDisruption(before, event);
    if (after === before) return undefined;
    this.disruption = after;
    return { before, after };
  }

  /** Applies a PartitionTaken marker to the disruption document (see evolveDisruptionOnTakeover). */
  applyPartitionTaken(marker: PartitionTaken): DisruptionChange {
    const before = this.disruption;
    this.disruption = evolveDisruptionOnTakeover(before, marker);
    return { before, after: this.disruption };
  }

  /** Applies one TASKS event; says why when the task's state does not accept it. */
  applyTaskEvent(event: TaskEvent): TaskChange {
    const finishedStatus = this.finished.get(event.taskId);
    if (finishedStatus !== undefined) {
      return {
        applied: false,
        why: event.type === 'TaskSubmitted' ? 'already submitted' : `task is ${finishedStatus}`,
      };
    }
    const before = this.tasks.get(event.taskId);
    const after = evolveTask(before, event);
    if (after === before || !after) return { applied: false, why: whyIgnored(before, event) ?? 'no change' };
    this.remember(before, after);
    return { applied: true, before, after };
  }

  task(taskId: string): TaskDocument | undefined {
    return this.tasks.get(taskId);
  }

  /** The status of any task ever submitted, finished ones included. */
  statusOf(taskId: string): TaskStatus | undefined {
    return this.tasks.get(taskId)?.status ?? this.finished.get(taskId);
  }

  allocatedOn(workerId: string): Resources {
    const held = this.holdings.get(workerId);
    return held ? sumResources(held.values()) : NO_RESOURCES;
  }

  /** Whether any task is assigned to or running on a worker. */
  holdsTasks(workerId: string): boolean {
    return (this.holdings.get(workerId)?.size ?? 0) > 0;
  }

  /** Whether a task is assigned to or running on the worker (its `holdingOf` names the worker). */
  holds(workerId: string, taskId: string): boolean {
    return this.holdings.get(workerId)?.has(taskId) ?? false;
  }

  /**
   * The workers whose document or holdings changed since the last call (all of them the first
   * time): what a placement pass must hear of, so that it need not copy the whole fleet.
   */
  takeChangedWorkers(): Set<string> {
    const changed = this.changedWorkers;
    this.changedWorkers = new Set();
    return changed;
  }

  /** Tasks assigned to or running on a worker. */
  tasksOn(workerId: string): TaskDocument[] {
    const held = this.holdings.get(workerId);
    if (!held) return [];
    return [...held.keys()].map((taskId) => this.tasks.get(taskId)).filter((task) => task !== undefined);
  }

  /** The task, if `attempt` is still its attempt and still assigned to or running on `workerId`. */
  attemptOn(taskId: string, attempt: number, workerId: string): TaskDocument | undefined {
    const task = this.tasks.get(taskId);
    return task?.attempt === attempt && this.holds(workerId, taskId) ? task : undefined;
  }

  /** Tasks that are neither queued nor finished. */
  placedTasks(): TaskDocument[] {
    return [...this.tasks.values()].filter((task) => task.status === 'assigned' || task.status === 'running');
  }

  /** Queued tasks, oldest first. */
  queued(): TaskDocument[] {
    return [...this.queuedTasks.values()].sort(bySubmission);
  }

  get queuedCount(): number {
    return this.queuedTasks.size;
  }

  private remember(before: TaskDocument | undefined, after: TaskDocument): void {
    const held = holdingOf(before);
    if (held) {
      this.holdings.get(held.workerId)?.delete(after.taskId);
      this.changedWorkers.add(held.workerId);
    }
    const holds = holdingOf(after);
    if (holds) {
      this.changedWorkers.add(holds.workerId);
      const onWorker = this.holdings.get(holds.workerId) ?? new Map<string, Resources>();
      onWorker.set(after.taskId, holds.requests);
      this.holdings.set(holds.workerId, onWorker);
    }
    if (after.status === 'queued') this.queuedTasks.set(after.taskId, after);
    else this.queuedTasks.delete(after.taskId);
    if (isTerminal(after.status)) {
      this.tasks.delete(after.taskId);
      this.finished.set(after.taskId, after.status);
    } else {
      this.tasks.set(after.taskId, after);
    }
  }
}
