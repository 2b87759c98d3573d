import type { TaskDocument } from '../projections/task-document.js';
import type { WorkerRuntime } from '../streams/contracts/heartbeat.js';

/** A schedulable worker, as far as the host-task rule cares. */
export interface RuntimeOfWorker {
  workerId: string;
  /** As it reports it; undefined for a worker that does not say (it is not judged by it). */
  runtime?: WorkerRuntime;
}

/** The host-task rule for one placement pass: an exclusion for `planPass`, and the words for what it did. */
export interface HostTaskRule {
  isExcluded: (taskId: string, workerId: string) => boolean;
  /** The wait reason of a task, with what the rule kept it from. */
  explain: (task: TaskDocument, reason: string) => string;
}

/** Workers named in a reason before "and N more". */
const MAX_NAMED = 3;

/**
 * A task with a command is not placed on a worker whose runtime is `process`: it would run
 * there with `sh -c` on the worker's host, outside its image and limits, unless the operator
 * allowed that (`--allow-host-tasks`). A task without a command runs nothing (it is simulated),
 * so it goes anywhere. Built once per pass over the schedulable workers; it wraps the pass's
 * other exclusions (`isExcluded`).
 */
export function hostTaskRule(
  queue: readonly TaskDocument[],
  schedulable: readonly RuntimeOfWorker[],
  allowHostTasks: boolean,
  isExcluded: (taskId: string, workerId: string) => boolean,
): HostTaskRule {
  const onHost = allowHostTasks
    ? []
    : schedulable.filter((worker) => worker.runtime === 'process').map((worker) => worker.workerId);
  if (onHost.length === 0) return { isExcluded, explain: (_task, reason) => reason };
  const hostIds = new Set(onHost);
  const elsewhere = schedulable.filter((worker) => !hostIds.has(worker.workerId));
  const commandTasks = new Set(queue.filter((task) => task.command !== undefined).map((task) => task.taskId));
  return {
    isExcluded: (taskId, workerId) =>
      isExcluded(taskId, workerId) || (hostIds.has(workerId) && commandTasks.has(taskId)),
    explain: (task, reason) => {
      if (!commandTasks.has(task.taskId)) return reason;
      const kept = onHost.filter((workerId) => !isExcluded(task.taskId, workerId));
      if (kept.length === 0) return reason;
      if (elsewhere.some((worker) => !isExcluded(task.taskId, worker.workerId))) {
        return `${reason}; ${onTheHost(kept)} (serve with --allow-host-tasks to use them too)`;
      }
      return `it runs a command, and ${onTheHost(kept)}: start a worker with podman or docker, or serve with --allow-host-tasks to run it there`;
    },
  };
}

/** "kim, tessa run tasks on the host (runtime process), not in their image". */
function onTheHost(workerIds: readonly string[]): string {
  const named = workerIds.slice(0, MAX_NAMED).join(', ');
  const more = workerIds.length > MAX_NAMED ? ` and ${workerIds.length - MAX_NAMED} more` : '';
  return `${named}${more} ${workerIds.length === 1 ? 'runs' : 'run'} tasks on the host (runtime process), not in their image`;
}
