import { type ChildProcess, spawn } from 'node:child_process';
import type { Execution, LeftoverRun, RunHandlers, RunSpec, TaskRuntime } from './runtime.js';

/** How much of a failing command's output a failure reason quotes. */
const TAIL_CHARS = 300;

/**
 * `sh -c` on the worker's own host: no image, no limits, the worker's whole filesystem. The
 * scheduler gives such a worker image tasks only when the operator allowed it. Nothing is
 * labelled, so a worker that crashed cannot find what it left running.
 */
export class ProcessRuntime implements TaskRuntime {
  readonly name = 'process' as const;

  start(spec: RunSpec, handlers: RunHandlers): Execution {
    return runOnHost(spec.command, handlers);
  }

  async leftovers(): Promise<LeftoverRun[]> {
    return [];
  }

  async remove(): Promise<void> {}
}

function runOnHost(command: string, handlers: RunHandlers): Execution {
  let ended = false;
  let tail = '';
  const finish = (...args: Parameters<RunHandlers['onExit']>) => {
    if (ended) return;
    ended = true;
    handlers.onExit(...args);
  };
  let child: ChildProcess;
  try {
    // Its own process group, so stopping it also stops whatever the shell started.
    child = spawn('sh', ['-c', command], { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (error) {
    setImmediate(() =>
      finish({
        outcome: 'failed',
        reason: `sh refused the command: ${(error as Error).message}`,
        exitCode: null,
        failure: 'command-rejected',
      }),
    );
    return { stop: async () => {} };
  }
  const collect = (chunk: Buffer) => {
    tail = (tail + chunk.toString('utf8')).slice(-TAIL_CHARS);
    handlers.onOutput(chunk);
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));
  child.once('error', (error) =>
    finish({
      outcome: 'failed',
      reason: `cannot start sh: ${error.message}`,
      exitCode: null,
      failure: 'runtime-error',
    }),
  );
  child.once('close', (code, signal) => {
    if (code === 0) {
      finish({ outcome: 'completed' });
      return;
    }
    const output = tail.trim() ? `; last output: ${tail.trim()}` : '';
    finish(
      signal
        ? { outcome: 'failed', reason: `killed by ${signal}${output}`, exitCode: null, failure: 'killed' }
        : { outcome: 'failed', reason: `exit code ${code}${output}`, exitCode: code, failure: 'exit-code' },
    );
  });
  const signalGroup = (signal: NodeJS.Signals) => {
    try {
      if (child.pid !== undefined) process.kill(-child.pid, signal);
    } catch {
      // Already gone.
    }
  };
  return {
    stop: async (graceMs) => {
      if (ended) return;
      ended = true;
      signalGroup('SIGTERM');
      const timer = setTimeout(() => signalGroup('SIGKILL'), graceMs);
      await closed;
      clearTimeout(timer);
    },
  };
}
