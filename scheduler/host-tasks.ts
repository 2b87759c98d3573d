import type { TaskDocument } from '../projections/task-document.js';

/** The host-task rule for one placement pass: exclusions for `planPass`, and the words for what it did. */
export interface HostTaskRule {
  excludedWorkers: (taskId: string) => Iterable<string> | undefined;
  /** The wait reason of a task, with what the rule kept it from. */
  explain: (task: TaskDocument, reason: string) => string;
}

export interface HostTaskRuleInput {
  queue: readonly TaskDocument[];
  /** The schedulable workers whose runtime is `process`. */
  hostWorkers: ReadonlySet<string>;
  /** The schedulable workers whose runtime is a container runtime (podman, docker). */
  containerWorkers: ReadonlySet<string>;
  /** How many workers are schedulable in all (those that name no runtime are not judged). */
  schedulableCount: number;
  allowHostTasks: boolean;
  /** The pass's other exclusions. */
  excludedWorkers: (taskId: string) => Iterable<string> | undefined;
}

/** Workers named in a reason before "and N more". */
const MAX_NAMED = 3;

/**
 * Where a task's command may run. On a `process` worker it runs with `sh -c` on the worker's
 * host, outside any image and limits: only if the operator allowed that (`--allow-host-tasks`).
 * On a container worker it runs in the task's image: a task that names none has nothing to run
 * in there. A task without a command runs nothing (it is simulated), so it goes anywhere.
 * Built once per pass; it adds to the pass's other exclusions.
 */
export function hostTaskRule(input: HostTaskRuleInput): HostTaskRule {
  const { hostWorkers, containerWorkers, excludedWorkers, allowHostTasks } = input;
  const refusedHosts = allowHostTasks ? new Set<string>() : hostWorkers;
  const withImage = new Set<string>();
  const withoutImage = new Set<string>();
  for (const task of input.queue) {
    if (task.command === undefined) continue;
    (task.image === undefined ? withoutImage : withImage).add(task.taskId);
  }
  const refusedFor = (taskId: string): ReadonlySet<string> | undefined => {
    if (withImage.has(taskId)) return refusedHosts.size > 0 ? refusedHosts : undefined;
    if (!withoutImage.has(taskId)) return undefined;
    if (refusedHosts.size === 0) return containerWorkers.size > 0 ? containerWorkers : undefined;
    return new Set([...containerWorkers, ...refusedHosts]);
  };
  if (refusedHosts.size === 0 && (containerWorkers.size === 0 || withoutImage.size === 0)) {
    return { excludedWorkers, explain: (_task, reason) => reason };
  }
  return {
    excludedWorkers: (taskId) => {
      const others = excludedWorkers(taskId);
      const refused = refusedFor(taskId);
      if (!refused) return others;
      return others === undefined ? refused : [...others, ...refused];
    },
    explain: (task, reason) => {
      const refused = refusedFor(task.taskId);
      if (!refused) return reason;
      const excluded = new Set(excludedWorkers(task.taskId) ?? []);
      const hosts = [...refusedHosts].filter((id) => refused.has(id) && !excluded.has(id)).sort();
      const containers = withoutImage.has(task.taskId)
        ? [...containerWorkers].filter((id) => !excluded.has(id)).sort()
        : [];
      if (hosts.length + containers.length === 0) return reason;
      const why = [
        containers.length > 0 ? `${named(containers)} ${runs(containers)} tasks only in their image` : '',
        hosts.length > 0 ? `${named(hosts)} ${runs(hosts)} tasks on the host (runtime process)` : '',
      ]
        .filter(Boolean)
        .join('; ');
      const advice = withoutImage.has(task.taskId)
        ? 'give it --image, or serve with --allow-host-tasks and start a worker with --runtime process'
        : 'start a worker with podman or docker, or serve with --allow-host-tasks to run it on the host';
      // Every worker it could have gone to was kept from it by this rule: that is the reason.
      const onlyThisRule = hosts.length + containers.length >= input.schedulableCount - excluded.size;
      const subject = withoutImage.has(task.taskId)
        ? 'it runs a command and names no image'
        : 'it runs a command';
      return onlyThisRule ? `${subject}, and ${why}: ${advice}` : `${reason}; ${why} (${advice})`;
    },
  };
}

function named(workerIds: readonly string[]): string {
  const more = workerIds.length > MAX_NAMED ? ` and ${workerIds.length - MAX_NAMED} more` : '';
  return `${workerIds.slice(0, MAX_NAMED).join(', ')}${more}`;
}

function runs(workerIds: readonly string[]): string {
  return workerIds.length === 1 ? 'runs' : 'run';
}
