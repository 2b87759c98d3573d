import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import type { WorkerRuntime } from '../../streams/contracts/heartbeat.js';
import type { TaskFailure } from '../../streams/contracts/task-events.js';
import { imageReferenceProblem } from './image-reference.js';
import type { Execution, LeftoverRun, RunHandlers, RunSpec, TaskRuntime } from './runtime.js';

/** The labels every task container carries: how a restarted worker finds what it left behind. */
export const CONTAINER_LABELS = {
  task: 'cloudai.task',
  attempt: 'cloudai.attempt',
  worker: 'cloudai.worker',
} as const;

/** Longest wait for one runtime command besides `run` (inspect, stop after its grace, rm, ps). */
const RUNTIME_COMMAND_TIMEOUT_MS = 30_000;
/** How much of the runtime's own error output a failure reason quotes. */
const ERROR_TAIL_CHARS = 600;
const SIGKILL_EXIT = 128 + 9;
const SIGTERM_EXIT = 128 + 15;
/** How long a stopped run's `podman run` may take to return once its container is stopped or removed. */
const RUN_EXIT_WAIT_MS = 2_000;

/** `cloudai-<worker>-<task>-<attempt>`: ids are `[A-Za-z0-9_-]`, which container names accept. */
export function containerName(spec: Pick<RunSpec, 'workerId' | 'taskId' | 'attempt'>): string {
  return `cloudai-${spec.workerId}-${spec.taskId}-${spec.attempt}`;
}

/** The arguments of `podman|docker run` for one attempt. */
export function runArguments(runtime: 'podman' | 'docker', spec: RunSpec): string[] {
  const args = [
    'run',
    '--name',
    containerName(spec),
    '--label',
    `${CONTAINER_LABELS.task}=${spec.taskId}`,
    '--label',
    `${CONTAINER_LABELS.attempt}=${spec.attempt}`,
    '--label',
    `${CONTAINER_LABELS.worker}=${spec.workerId}`,
    // The worker keeps the output (bounded, through NATS); the runtime keeping its own copy
    // would let a task that prints gigabytes fill the disk.
    '--log-driver',
    'none',
  ];
  const { cpu, memoryGb } = spec.requests;
  if (cpu > 0) args.push('--cpus', String(cpu));
  if (memoryGb > 0) {
    // Swap as large as memory means no swap: the limit is the memory the task gets.
    const kib = `${Math.ceil(memoryGb * 1024 * 1024)}k`;
    args.push('--memory', kib, '--memory-swap', kib);
  }
  if (spec.gpuDevices.length > 0) {
    if (runtime === 'docker') args.push('--gpus', `device=${spec.gpuDevices.join(',')}`);
    // Podman names GPUs through CDI (nvidia-ctk generates the spec).
    else for (const device of spec.gpuDevices) args.push('--device', `nvidia.com/gpu=${device}`);
  }
  args.push('--entrypoint', 'sh', spec.image ?? '', '-c', spec.command);
  return args;
}

interface ContainerState {
  Status?: string;
  ExitCode?: number;
  OOMKilled?: boolean;
  Error?: string;
  StartedAt?: string;
}

/**
 * Podman and docker through their command lines, which agree on everything used here: each
 * attempt is `run` attached (its output streams to the worker), named and labelled after the
 * task, attempt and worker, with the task's requests as limits; `inspect` then tells how it
 * ended, and `rm` removes it. No container outlives its attempt.
 */
export class ContainerRuntime implements TaskRuntime {
  constructor(
    readonly name: 'podman' | 'docker',
    private readonly binary: string = name,
  ) {}

  start(spec: RunSpec, handlers: RunHandlers): Execution {
    return new ContainerExecution(this, spec, handlers);
  }

  async leftovers(workerId: string): Promise<LeftoverRun[]> {
    const listed = await this.command([
      'ps',
      '--all',
      '--filter',
      `label=${CONTAINER_LABELS.worker}=${workerId}`,
      '--format',
      '{{.ID}}',
    ]);
    if (!listed.ok) throw new Error(`${this.name} ps failed: ${listed.output}`);
    const ids = listed.output.split('\n').filter((line) => line.trim() !== '');
    if (ids.length === 0) return [];
    const format = `{{.Name}} {{index .Config.Labels "${CONTAINER_LABELS.task}"}} {{index .Config.Labels "${CONTAINER_LABELS.attempt}"}}`;
    const inspected = await this.command(['inspect', '--format', format, ...ids]);
    const runs: LeftoverRun[] = [];
    for (const line of inspected.output.split('\n')) {
      const [name, taskId, attempt] = line.trim().split(' ');
      if (!name || !taskId || !attempt || !/^\d+$/.test(attempt)) continue;
      runs.push({ name: name.replace(/^\//, ''), taskId, attempt: Number(attempt) });
    }
    return runs;
  }

  async remove(leftover: LeftoverRun): Promise<void> {
    await this.removeContainer(leftover.name, true);
  }

  /**
   * Removes a container; `running`: kill it first (podman's `rm --force` would give a running
   * one its stop timeout). A container already gone is fine.
   */
  async removeContainer(name: string, running = false): Promise<void> {
    if (running) await this.command(['kill', name]);
    await this.command(['rm', '--force', name]);
  }

  /** SIGTERM, then SIGKILL after the grace (whole seconds: what the runtimes take). */
  async stopContainer(name: string, graceMs: number): Promise<boolean> {
    return (await this.command(['stop', '--time', String(Math.ceil(graceMs / 1000)), name], graceMs)).ok;
  }

  async inspectState(name: string): Promise<ContainerState | undefined> {
    const result = await this.command(['inspect', '--format', '{{json .State}}', name]);
    if (!result.ok) return undefined;
    try {
      return JSON.parse(result.output) as ContainerState;
    } catch {
      return undefined;
    }
  }

  spawnRun(spec: RunSpec): ChildProcess {
    // podman's conmon leaves a file named `oom` in its working directory when a task runs out of
    // memory: not in the directory the worker was started from.
    return spawn(this.binary, runArguments(this.name, spec), {
      stdio: ['ignore', 'pipe', 'pipe'],
      cwd: tmpdir(),
    });
  }

  /** One runtime command with a deadline; never throws. */
  command(args: string[], extraMs = 0): Promise<{ ok: boolean; output: string }> {
    return new Promise((resolve) => {
      try {
        execFile(
          this.binary,
          args,
          { timeout: RUNTIME_COMMAND_TIMEOUT_MS + extraMs, maxBuffer: 4 * 1024 * 1024 },
          (error, stdout, stderr) =>
            resolve({ ok: !error, output: error ? `${stderr || error.message}`.trim() : stdout.trim() }),
        );
      } catch (error) {
        resolve({ ok: false, output: (error as Error).message });
      }
    });
  }
}

class ContainerExecution implements Execution {
  private readonly name: string;
  private child?: ChildProcess;
  private stopping?: Promise<void>;
  private errorTail = '';
  private closed: Promise<void> = Promise.resolve();

  constructor(
    private readonly runtime: ContainerRuntime,
    private readonly spec: RunSpec,
    private readonly handlers: RunHandlers,
  ) {
    this.name = containerName(spec);
    const problem =
      spec.image === undefined
        ? `the task names no image, and ${runtime.name} runs commands only in one: submit it with --image`
        : imageReferenceProblem(spec.image);
    if (problem) {
      setImmediate(() => this.finish('invalid-image', problem, null));
      return;
    }
    this.launch();
  }

  private launch(): void {
    let child: ChildProcess;
    try {
      child = this.runtime.spawnRun(this.spec);
    } catch (error) {
      // Arguments the OS refuses (a NUL byte in the command): nothing started.
      setImmediate(() =>
        this.finish(
          'command-rejected',
          `${this.runtime.name} refused the command: ${(error as Error).message}`,
          null,
        ),
      );
      return;
    }
    this.child = child;
    child.stdout?.on('data', (chunk: Buffer) => this.handlers.onOutput(chunk));
    child.stderr?.on('data', (chunk: Buffer) => {
      this.errorTail = (this.errorTail + chunk.toString('utf8')).slice(-ERROR_TAIL_CHARS);
      this.handlers.onOutput(chunk);
    });
    let spawnError: Error | undefined;
    child.once('error', (error) => {
      spawnError = error;
    });
    this.closed = new Promise((resolve) => {
      child.once('close', (code, signal) => {
        resolve();
        if (this.stopping) return;
        void this.judge(code, signal, spawnError);
      });
    });
  }

  stop(graceMs: number): Promise<void> {
    this.stopping ??= (async () => {
      if (!this.child) return;
      const stopped = await this.runtime.stopContainer(this.name, graceMs);
      // A stop that came before the container existed did nothing: the removal below kills it.
      const exited = await within(this.closed, RUN_EXIT_WAIT_MS);
      await this.runtime.removeContainer(this.name, !stopped || !exited);
      if (await within(this.closed, RUN_EXIT_WAIT_MS)) return;
      // The run was still creating the container when it was stopped: end it, and remove
      // whatever it created meanwhile.
      this.child.kill('SIGKILL');
      await this.closed;
      await this.runtime.removeContainer(this.name, true);
    })();
    return this.stopping;
  }

  /** How the attempt ended, from the container's state; then the container goes. */
  private async judge(code: number | null, signal: NodeJS.Signals | null, spawnError?: Error): Promise<void> {
    const runtime = this.runtime.name;
    if (spawnError) {
      this.finish('runtime-error', `${runtime} could not be started: ${spawnError.message}`, null);
      return;
    }
    const state = await this.runtime.inspectState(this.name);
    await this.runtime.removeContainer(this.name);
    if (this.stopping) return;
    const said = lastErrorLine(this.errorTail);
    if (signal !== null) {
      this.finish(
        'runtime-error',
        `the ${runtime} process running the container ended by ${signal} (the runtime went away?); the container was removed`,
        null,
      );
      return;
    }
    if (!state) {
      // Never created: the runtime refused the run itself.
      const failure: TaskFailure =
        /image not known|no such image|manifest unknown|not found|pull access denied|does not exist|unable to find image|initializing source/i.test(
          said,
        )
          ? 'image-missing'
          : /invalid reference format/i.test(said)
            ? 'invalid-image'
            : 'runtime-error';
      const what =
        failure === 'image-missing'
          ? `image ${this.spec.image} is not available`
          : `${runtime} refused the run`;
      this.finish(failure, `${what} (exit ${code}): ${said || 'no message'}`, code);
      return;
    }
    if (state.OOMKilled) {
      this.finish(
        'out-of-memory',
        `out of memory: killed at its limit of ${this.memoryLimit()}`,
        state.ExitCode ?? code,
      );
      return;
    }
    if (state.Status === 'created' || (state.StartedAt ?? '').startsWith('0001-')) {
      this.finish(
        'command-rejected',
        `${runtime} could not start the command (exit ${code}): ${said || 'no message'}`,
        code,
      );
      return;
    }
    const exitCode = state.ExitCode ?? code ?? null;
    if (exitCode === 0) {
      this.handlers.onExit({ outcome: 'completed' });
      return;
    }
    if (exitCode === SIGKILL_EXIT && this.spec.requests.memoryGb > 0) {
      // Nobody here stopped it, and the kernel's OOM killer sends SIGKILL. Some hosts never
      // tell the runtime (nested cgroups), so an unexplained SIGKILL under a memory limit is
      // taken for what it almost always is.
      this.finish(
        'out-of-memory',
        `out of memory: killed by SIGKILL (exit ${exitCode}) under its limit of ${this.memoryLimit()}; the runtime did not confirm an OOM kill`,
        exitCode,
      );
      return;
    }
    if (exitCode === SIGKILL_EXIT || exitCode === SIGTERM_EXIT) {
      const name = exitCode === SIGKILL_EXIT ? 'SIGKILL' : 'SIGTERM';
      this.finish('killed', `killed by ${name} (exit ${exitCode}), not by this worker`, exitCode);
      return;
    }
    this.finish('exit-code', `exit code ${exitCode}${this.lastOutput(said)}`, exitCode);
  }

  private memoryLimit(): string {
    return `${Math.ceil(this.spec.requests.memoryGb * 1024)} MiB`;
  }

  private lastOutput(said: string): string {
    return said ? `; last error output: ${said}` : '';
  }

  private finish(failure: TaskFailure, reason: string, exitCode: number | null): void {
    if (this.stopping) return;
    this.handlers.onExit({ outcome: 'failed', reason, exitCode, failure });
  }
}

/** The last non-empty line of a runtime's error output, without its `Error: ` prefix. */
function lastErrorLine(text: string): string {
  const lines = text
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean);
  const errors = lines.filter((line) => line.startsWith('Error'));
  return (errors.at(-1) ?? lines.at(-1) ?? '').replace(/^Error( response from daemon)?:\s*/, '');
}

/** Whether `promise` settles within `ms`. */
function within(promise: Promise<void>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  return Promise.race([promise.then(() => true), timeout]).finally(() => clearTimeout(timer));
}

export function isContainerRuntime(name: WorkerRuntime): name is 'podman' | 'docker' {
  return name === 'podman' || name === 'docker';
}
