import { execFile } from 'node:child_process';
import type { WorkerRuntime } from '../../streams/contracts/heartbeat.js';
import type { Logger } from '../../streams/util/logger.js';
import { ContainerRuntime } from './container-runtime.js';
import { ProcessRuntime } from './process-runtime.js';
import type { TaskRuntime } from './runtime.js';

/** The order the default choice tries. */
const CONTAINER_RUNTIMES = ['podman', 'docker'] as const;
const PROBE_TIMEOUT_MS = 10_000;

/**
 * Whether a container runtime answers: `ps` needs podman's container store, and docker's
 * daemon, and is the cheapest command that does. Resolves with why not, or undefined.
 */
export function probeContainerRuntime(name: 'podman' | 'docker'): Promise<string | undefined> {
  const args = ['ps', '--quiet'];
  return new Promise((resolve) => {
    execFile(name, args, { timeout: PROBE_TIMEOUT_MS }, (error, _stdout, stderr) => {
      if (!error) resolve(undefined);
      else if ((error as NodeJS.ErrnoException).code === 'ENOENT') resolve(`${name} is not installed`);
      else resolve(`${name} ${args[0]} failed: ${(stderr || error.message).trim().split('\n').at(-1)}`);
    });
  });
}

export type RuntimeChoice = WorkerRuntime | 'auto';

/**
 * The runtime a worker runs its tasks in. `auto`: podman, then docker, whichever answers first,
 * else `process` with a warning. A runtime asked for by name must answer, or the worker does
 * not start.
 */
export async function chooseRuntime(choice: RuntimeChoice, logger: Logger): Promise<TaskRuntime> {
  if (choice === 'process') return new ProcessRuntime();
  if (choice !== 'auto') {
    const problem = await probeContainerRuntime(choice);
    if (problem) {
      throw new RuntimeUnavailableError(
        `--runtime ${choice}: ${problem}. Install or fix it, or choose another runtime (podman, docker, process)`,
      );
    }
    return new ContainerRuntime(choice);
  }
  const problems: string[] = [];
  for (const name of CONTAINER_RUNTIMES) {
    const problem = await probeContainerRuntime(name);
    if (!problem) return new ContainerRuntime(name);
    problems.push(problem);
  }
  logger.warn(
    `no container runtime answers (${problems.join('; ')}): tasks run with sh -c on this host, ` +
      'without their image or limits, and the scheduler sends image tasks here only if serve runs ' +
      'with --allow-host-tasks. Install podman or docker, or pass --runtime process to silence this',
  );
  return new ProcessRuntime();
}

export class RuntimeUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RuntimeUnavailableError';
  }
}
