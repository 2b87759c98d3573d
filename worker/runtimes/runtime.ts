import type { Resources } from '../../projections/resources.js';
import type { WorkerRuntime } from '../../streams/contracts/heartbeat.js';
import type { TaskFailure } from '../../streams/contracts/task-events.js';

/** How long a stopped task has between SIGTERM and SIGKILL, unless configured. */
export const DEFAULT_TASK_STOP_GRACE_MS = 10_000;

/** How a run ended, as its runtime tells it. */
export type RunOutcome =
  | { outcome: 'completed' }
  | { outcome: 'failed'; reason: string; exitCode: number | null; failure: TaskFailure };

/** One attempt of a task, as a runtime runs it. */
export interface RunSpec {
  taskId: string;
  attempt: number;
  workerId: string;
  /** The task's image; a task without one can only run on a worker's host. */
  image?: string;
  /** Run with `sh -c` (inside the image, for a container runtime). */
  command: string;
  /** The task's requests: a container runtime applies them as limits. */
  requests: Resources;
  /** Device indices of the GPUs given to this attempt. */
  gpuDevices: readonly number[];
}

export interface RunHandlers {
  /** What the task prints, stdout and stderr as they come. */
  onOutput: (chunk: Buffer) => void;
  /** Once, when the work ends by itself; never after `stop()`. */
  onExit: (result: RunOutcome) => void;
}

/** One attempt's work in progress. */
export interface Execution {
  /**
   * Ends the work without a result (cancelled, placed elsewhere, or the worker leaves): SIGTERM,
   * then SIGKILL after `graceMs`. Resolves when nothing of it is left.
   */
  stop(graceMs: number): Promise<void>;
}

/** An attempt's container found from an earlier life of this worker (it crashed while it ran). */
export interface LeftoverRun {
  /** What the runtime calls it, to remove it. */
  name: string;
  taskId: string;
  attempt: number;
}

/** Where a worker's tasks run: podman, docker (the task's image) or process (`sh -c` on the host). */
export interface TaskRuntime {
  readonly name: WorkerRuntime;
  start(spec: RunSpec, handlers: RunHandlers): Execution;
  /** Runs of this worker that an earlier life of it left behind. */
  leftovers(workerId: string): Promise<LeftoverRun[]>;
  /** Kills and removes a leftover at once. */
  remove(leftover: LeftoverRun): Promise<void>;
}
