import { type ChildProcess, spawn } from 'node:child_process';
import type { Clock } from '../streams/util/clock.js';

export type ExecutionResult =
  | { outcome: 'completed'; durationMs: number }
  | { outcome: 'failed'; durationMs: number; reason: string; exitCode: number | null };

export interface ExecutionOptions {
  /** Run with `sh -c`; exit code 0 is success. Without it the work is simulated. */
  command?: string;
  /** How long simulated work takes. */
  simulateMs: number;
  clock: Clock;
  /** Each line the command prints (stdout and stderr). */
  onOutput?: (line: string) => void;
  /** Called once when the work ends by itself; never after `stop()`. */
  onExit: (result: ExecutionResult) => void;
}

/** One attempt's work in progress. */
export interface Execution {
  /** Ends the work without a result (the attempt was cancelled or placed elsewhere). */
  stop(): void;
}

/** How much of a failing command's output a failure reason quotes. */
const TAIL_CHARS = 300;

export function startExecution(options: ExecutionOptions): Execution {
  return options.command === undefined ? simulate(options) : runCommand(options.command, options);
}

function simulate(options: ExecutionOptions): Execution {
  const startedAt = options.clock.now();
  const handle = options.clock.setTimeout(
    () => options.onExit({ outcome: 'completed', durationMs: options.clock.now() - startedAt }),
    options.simulateMs,
  );
  return { stop: () => options.clock.clearTimeout(handle) };
}

function runCommand(command: string, options: ExecutionOptions): Execution {
  const startedAt = options.clock.now();
  let stopped = false;
  let tail = '';
  const finish = (result: ExecutionResult) => {
    if (stopped) return;
    stopped = true;
    options.onExit(result);
  };
  // Its own process group, so stopping it also stops whatever the shell started.
  const child: ChildProcess = spawn('sh', ['-c', command], {
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const collect = (chunk: Buffer) => {
    const text = chunk.toString('utf8');
    tail = (tail + text).slice(-TAIL_CHARS);
    for (const line of text.split('\n')) if (line.trim() !== '') options.onOutput?.(line);
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  child.once('error', (error) =>
    finish({
      outcome: 'failed',
      durationMs: options.clock.now() - startedAt,
      reason: `cannot start sh: ${error.message}`,
      exitCode: null,
    }),
  );
  child.once('close', (code, signal) => {
    const durationMs = options.clock.now() - startedAt;
    if (code === 0) finish({ outcome: 'completed', durationMs });
    else {
      const how = signal ? `killed by ${signal}` : `exit code ${code}`;
      const output = tail.trim() ? `; last output: ${tail.trim()}` : '';
      finish({ outcome: 'failed', durationMs, reason: `${how}${output}`, exitCode: code });
    }
  });
  return {
    stop: () => {
      if (stopped) return;
      stopped = true;
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGTERM');
      } catch {
        // Already gone.
      }
    },
  };
}
