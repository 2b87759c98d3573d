import type { TaskDocument } from '../projections/task-document.js';
import { type Logger, RateLimitedLog } from '../streams/util/logger.js';
import type { DisruptionChange } from './cluster-state.js';

/** An attempt whose requeue disruption mode held back. */
export interface HeldAttempt {
  taskId: string;
  attempt: number;
  workerId: string;
}

/**
 * Requeues held back while disruption mode lasts: the silence that would cause them may be
 * the control plane's own. When the mode ends they are handed back to be judged again.
 */
export class DisruptionHolds {
  /** Requeues held back (each attempt counted once). */
  heldCount = 0;
  /** taskId → the attempt held, and where. */
  private readonly held = new Map<string, { attempt: number; workerId: string }>();
  private readonly log: RateLimitedLog;

  constructor(private readonly logger: Logger) {
    this.log = new RateLimitedLog(logger);
  }

  hold(task: TaskDocument, reason: string): void {
    if (task.workerId === null) return;
    const held = this.held.get(task.taskId);
    if (held?.attempt === task.attempt && held.workerId === task.workerId) return;
    this.held.set(task.taskId, { attempt: task.attempt, workerId: task.workerId });
    this.heldCount++;
    this.log.warn(
      'held-in-disruption',
      `disruption mode: task ${task.taskId} stays on ${task.workerId} (${reason}); decided again when the mode ends`,
    );
  }

  /** Logs a start or end of disruption mode (the fleet logs the why); true when it ended. */
  noteChange({ before, after }: DisruptionChange): boolean {
    if (after.active && !before.active) {
      this.logger.info(
        `disruption mode (${after.unhealthyWorkers} of ${after.consideredWorkers} workers unhealthy): ` +
          'no task is requeued until it ends; new tasks are still placed on schedulable workers',
      );
      return false;
    }
    if (!after.active && before.active) {
      this.logger.info(
        `disruption mode ended (by ${after.endedBy ?? 'unknown'}): deciding again on ${this.held.size} held requeues`,
      );
      return true;
    }
    return false;
  }

  /** Forgets and returns every held attempt, to be judged against the workers' state now. */
  release(): HeldAttempt[] {
    const released = [...this.held].map(([taskId, held]) => ({ taskId, ...held }));
    this.held.clear();
    return released;
  }
}
