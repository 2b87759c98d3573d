import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { join } from 'node:path';
import type { WorkerJson } from '../../cli/worker-stats.js';
import { projectRoot } from '../../streams/util/project-root.js';
import { killOnExit, waitFor } from './nats.js';

/** The compiled CLI, as installed: `npm test` builds it first. */
export const CLI_PATH = join(projectRoot(), 'dist', 'cli', 'main.js');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

const MAX_OUTPUT_BYTES = 512 * 1024 * 1024;

const baseEnv = (env: NodeJS.ProcessEnv) => ({
  ...process.env,
  NO_COLOR: '1',
  FORCE_COLOR: undefined,
  ...env,
});

/** Runs `cloudai …` to completion. */
export function runCli(args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 15_000): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI_PATH, ...args],
      // execFile's default 1 MiB of stdout is about 900 workers of `workers --json`.
      { env: baseEnv(env), timeout: timeoutMs, maxBuffer: MAX_OUTPUT_BYTES },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

export interface RunningCli {
  process: ChildProcess;
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts a long-running `cloudai …` (serve, worker, up); the test stops it. */
export function spawnCli(args: string[], env: NodeJS.ProcessEnv = {}): RunningCli {
  const child = spawn(process.execPath, [CLI_PATH, ...args], {
    env: baseEnv(env),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk) => {
    output += chunk;
  });
  child.stderr?.on('data', (chunk) => {
    output += chunk;
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  killOnExit(child);
  return { process: child, output: () => output, exited };
}

/** Resolves once `serve` takes heartbeats ("serving on"); a serve that exits first fails it. */
export async function waitUntilServing(serve: RunningCli, timeoutMs: number): Promise<void> {
  await waitFor(
    () => /serving on/.test(serve.output()) || serve.process.exitCode !== null,
    timeoutMs,
    'serve to start',
  );
  if (serve.process.exitCode !== null) throw new Error(`serve exited during start-up:\n${serve.output()}`);
}

/** `cloudai workers --json` (plus `extra` flags); no read model yet reads as no workers. */
export async function workersJson(env: NodeJS.ProcessEnv, extra: string[] = []): Promise<WorkerJson[]> {
  const result = await runCli(['workers', '--json', ...extra], env);
  return result.code === 0 ? (JSON.parse(result.stdout) as WorkerJson[]) : [];
}

/** A `cloudai worker` of the end-to-end tests: 4 cpu, 8 GB, tasks that outlast the tests. */
export function spawnTestWorker(workerId: string, env: NodeJS.ProcessEnv): RunningCli {
  return spawnCli(['worker', '--id', workerId, '--cpu', '4', '--memory', '8', '--task-ms', '120000'], env);
}

/** Starts a test worker for each id and resolves once `cloudai workers` shows them all active. */
export async function startActiveWorkers(
  workerIds: readonly string[],
  env: NodeJS.ProcessEnv,
): Promise<Map<string, RunningCli>> {
  const workers = new Map(workerIds.map((workerId) => [workerId, spawnTestWorker(workerId, env)]));
  await waitFor(
    async () =>
      (await workersJson(env)).filter(
        (worker) => workerIds.includes(worker.workerId) && worker.status === 'active',
      ).length === workerIds.length,
    15_000,
    `${workerIds.join(', ')} active`,
  );
  return workers;
}
