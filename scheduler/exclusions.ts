/**
 * The workers a queued task is not offered to for a while, after they did not take it. An
 * exclusion lapses after `retryAfterMs` (then `onLapse` runs, so the task is tried again), when
 * its worker turns schedulable again, or when the task leaves the queue.
 */
export class Exclusions {
  /** taskId → workerId → timer that lifts the exclusion. */
  private readonly timers = new Map<string, Map<string, NodeJS.Timeout>>();

  constructor(
    private readonly retryAfterMs: number,
    private readonly onLapse: () => void,
  ) {}

  /** The workers the task is not offered to now; undefined when there are none. */
  workersExcludedFor(taskId: string): Iterable<string> | undefined {
    return this.timers.get(taskId)?.keys();
  }

  add(taskId: string, workerId: string): void {
    const timers = this.timers.get(taskId) ?? new Map<string, NodeJS.Timeout>();
    clearTimeout(timers.get(workerId));
    timers.set(
      workerId,
      setTimeout(() => {
        this.forget(taskId, timers, workerId);
        this.onLapse();
      }, this.retryAfterMs),
    );
    this.timers.set(taskId, timers);
  }

  /** The worker is back (registered, recovered, uncordoned…): whatever it did not take may work now. */
  liftWorker(workerId: string): void {
    for (const [taskId, timers] of this.timers) {
      const timer = timers.get(workerId);
      if (timer === undefined) continue;
      clearTimeout(timer);
      this.forget(taskId, timers, workerId);
    }
  }

  /** The task left the queue: the workers it may not go back to no longer matter. */
  liftTask(taskId: string): void {
    const timers = this.timers.get(taskId);
    if (timers) for (const timer of timers.values()) clearTimeout(timer);
    this.timers.delete(taskId);
  }

  clear(): void {
    for (const taskId of [...this.timers.keys()]) this.liftTask(taskId);
  }

  private forget(taskId: string, timers: Map<string, NodeJS.Timeout>, workerId: string): void {
    timers.delete(workerId);
    if (timers.size === 0) this.timers.delete(taskId);
  }
}
