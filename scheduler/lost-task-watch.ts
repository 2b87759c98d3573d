import type { TaskDocument } from '../projections/task-document.js';
import { hasLostItsTasks, type WorkerDocument } from '../projections/worker-document.js';
import type { Heartbeat } from '../streams/contracts/heartbeat.js';
import { REQUEUE_REASONS, type StopRequest } from '../streams/contracts/task-events.js';
import type { ClusterState } from './cluster-state.js';
import type { DisruptionHolds } from './disruption-holds.js';

export interface LostTaskWatchOptions {
  state: ClusterState;
  holds: DisruptionHolds;
  /** Whether a decision about the task is published and not yet applied. */
  isPending: (taskId: string) => boolean;
  publishRequeue: (task: TaskDocument, reason: string) => void;
  /** Sends the offer of an assignment the log holds to the worker's agent again. */
  sendOffer: (taskId: string, attempt: number, workerId: string) => void;
  sendStop: (workerId: string, request: StopRequest) => void;
  /** The clock of heartbeats' receive times (monotonic). */
  now: () => number;
}

/** Heartbeats in a row that must miss a running task before it counts as lost by its worker. */
const MISSED_HEARTBEATS_BEFORE_LOST = 2;

/**
 * Finds placed tasks that run nowhere: on workers turned inactive, left or removed, or missing
 * from their worker's heartbeats. Those are requeued, unless disruption mode holds them (a
 * worker that left said so itself: its tasks are requeued at once). Suspect, flapping, cordoned
 * and draining workers keep their tasks.
 */
export class LostTaskWatch {
  /** taskId → when this process saw it running, and heartbeats of its worker that missed it since. */
  private readonly running = new Map<string, { since: number; misses: number }>();

  constructor(private readonly options: LostTaskWatchOptions) {}

  /**
   * A worker's heartbeat lists what its agent runs. A task the log says runs there but two
   * heartbeats in a row leave out was lost (its agent restarted before anyone noticed): requeue
   * it. A task listed there that the log has placed elsewhere (or ended) is an orphan: stop it.
   */
  observeHeartbeat(heartbeat: Heartbeat, receivedAt: number): void {
    const { state } = this.options;
    const { workerId, runningTasks } = heartbeat;
    // Nearly every heartbeat: an idle worker the log gives no task. Nothing to compare.
    if (runningTasks.length === 0 && !state.holdsTasks(workerId)) return;
    for (const { taskId } of runningTasks) {
      if (state.holds(workerId, taskId) || this.options.isPending(taskId)) continue;
      // An agent lists a task that completed or failed there until its final report is stored.
      const status = state.statusOf(taskId);
      if (status !== 'completed' && status !== 'failed') this.options.sendStop(workerId, { taskId });
    }
    const listed = new Set(runningTasks.map((task) => task.taskId));
    for (const task of state.tasksOn(workerId)) {
      const watch = this.running.get(task.taskId);
      if (task.status !== 'running' || !watch || receivedAt <= watch.since) continue;
      if (listed.has(task.taskId)) {
        watch.misses = 0;
        continue;
      }
      watch.misses++;
      if (watch.misses >= MISSED_HEARTBEATS_BEFORE_LOST) {
        this.requeueUnlessDisrupted(
          task,
          `${REQUEUE_REASONS.missingFromHeartbeats}: ${workerId} no longer runs it`,
        );
      }
    }
  }

  /** A task's new state was applied: a running one is watched from now on. */
  taskChanged(task: TaskDocument): void {
    if (task.status === 'running') this.watch(task.taskId);
    else this.forget(task.taskId);
  }

  /** A worker's new state was applied: an inactive, left or removed one has lost whatever it holds. */
  workerChanged(worker: WorkerDocument): void {
    if (!hasLostItsTasks(worker)) return;
    for (const task of this.options.state.tasksOn(worker.workerId)) this.requeueLost(task, worker);
  }

  /**
   * Judges a placed task against its worker's state now (at start, or when disruption mode
   * ended): an inactive or removed worker has lost it, an unacknowledged one is offered it again.
   */
  reconcile(task: TaskDocument): void {
    const worker = task.workerId === null ? undefined : this.options.state.workers.get(task.workerId);
    if (!worker) {
      this.requeueUnlessDisrupted(task, REQUEUE_REASONS.workerInactive);
    } else if (hasLostItsTasks(worker)) {
      this.requeueLost(task, worker);
    } else if (task.status === 'assigned' && task.workerId !== null) {
      // The previous scheduler may have stopped between recording and offering it, or the
      // offer went unanswered during a disruption; agents acknowledge a repeated offer of the
      // same attempt without running it twice.
      this.options.sendOffer(task.taskId, task.attempt, task.workerId);
    } else {
      this.watch(task.taskId);
    }
  }

  /** The task's requeue is published: its heartbeats no longer matter. */
  forget(taskId: string): void {
    this.running.delete(taskId);
  }

  /** A leave is an answer, not a silence: those tasks move at once, disruption mode or not. */
  private requeueLost(task: TaskDocument, worker: WorkerDocument): void {
    if (worker.status === 'left') this.options.publishRequeue(task, REQUEUE_REASONS.workerLeft);
    else this.requeueUnlessDisrupted(task, lostReasonOf(worker));
  }

  /** A requeue for a silence, held while disruption mode lasts (the silence may be ours). */
  private requeueUnlessDisrupted(task: TaskDocument, reason: string): void {
    if (this.options.state.disruption.active) this.options.holds.hold(task, reason);
    else this.options.publishRequeue(task, reason);
  }

  private watch(taskId: string): void {
    this.running.set(taskId, { since: this.options.now(), misses: 0 });
  }
}

/** Why the tasks of a worker that has lost them are requeued. */
function lostReasonOf(worker: WorkerDocument): string {
  return worker.status === 'removed' ? REQUEUE_REASONS.workerRemoved : REQUEUE_REASONS.workerInactive;
}
