import * as assert from 'uvu/assert';
import { type RunningCli, spawnCli } from './cli.js';
import { waitFor } from './nats.js';

export function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export interface UpOptions {
  env: NodeJS.ProcessEnv;
  /** The flags after `up`. */
  flags: readonly string[];
  /** How long `up` may take until it has started everything. */
  readyTimeoutMs: number;
}

export interface StartedUp {
  up: RunningCli;
  /** The pids `up` printed, its nats-server(s) first. */
  pids: number[];
  /** The pid printed beside `name` (`worker tessa`, `serve 1`, `nats-server 2`). */
  pidOf: (name: string) => number;
  /** The URL printed beside the nats-server `name` (`nats-server`, `nats-server 2`). */
  urlOf: (name: string) => string | undefined;
  /** Kills `up` and each process it printed that still runs: the cleanup of a test. */
  kill: () => void;
}

/** Starts `cloudai up` and resolves once it has started everything; an `up` that exits fails it. */
export async function startUp(options: UpOptions): Promise<StartedUp> {
  const up = spawnCli(['up', ...options.flags], options.env);
  try {
    await waitFor(
      () => /Ctrl-C here stops everything/.test(up.output()) || up.process.exitCode !== null,
      options.readyTimeoutMs,
      'up',
    );
    if (up.process.exitCode !== null) throw new Error(`up exited:\n${up.output()}`);
  } catch (error) {
    up.process.kill('SIGKILL');
    throw error;
  }
  const pids = [...up.output().matchAll(/pid (\d+)/g)].map((match) => Number(match[1]));
  return {
    up,
    pids,
    pidOf: (name) => Number(new RegExp(`${name}\\s+pid (\\d+)`).exec(up.output())?.[1]),
    urlOf: (name) => new RegExp(`${name}\\s+pid \\d+\\s+(nats://\\S+)`).exec(up.output())?.[1],
    kill: () => {
      up.process.kill('SIGKILL');
      for (const pid of pids) if (isRunning(pid)) process.kill(pid, 'SIGKILL');
    },
  };
}

/** Stops `up` with `signal` and asserts that it exits 0 and leaves none of its processes running. */
export async function assertStopsCleanly(started: StartedUp, signal: NodeJS.Signals): Promise<void> {
  started.up.process.kill(signal);
  assert.equal(await started.up.exited, { code: 0, signal: null }, started.up.output());
  for (const pid of started.pids) assert.not.ok(isRunning(pid), `process ${pid} left behind`);
}
