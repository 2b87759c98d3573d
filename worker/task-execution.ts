import type { Clock } from '../streams/util/clock.js';
import type { Execution, RunOutcome, RunSpec, TaskRuntime } from './runtimes/runtime.js';

export type ExecutionResult = RunOutcome & { durationMs: number };

export interface ExecutionOptions {
  /** The attempt to run; without a command the work is simulated. */
  spec?: RunSpec;
  /** Where a command runs. */
  runtime?: TaskRuntime;
  /** How long simulated work takes. */
  simulateMs: number;
  clock: Clock;
  /** What the command prints (stdout and stderr), as it comes. */
  onOutput?: (chunk: Buffer) => void;
  /** Called once when the work ends by itself; never after `stop()`. */
  onExit: (result: ExecutionResult) => void;
}

export type { Execution };

/**
 * One attempt's work: its command in the worker's runtime, or, for a task without a command,
 * a simulated duration (the stand-in for work that demos and tests use, on every runtime).
 */
export function startExecution(options: ExecutionOptions): Execution {
  const startedAt = options.clock.now();
  const { spec, runtime } = options;
  if (spec === undefined || runtime === undefined) return simulate(options, startedAt);
  return runtime.start(spec, {
    onOutput: (chunk) => options.onOutput?.(chunk),
    onExit: (outcome) => options.onExit({ ...outcome, durationMs: options.clock.now() - startedAt }),
  });
}

function simulate(options: ExecutionOptions, startedAt: number): Execution {
  const handle = options.clock.setTimeout(
    () => options.onExit({ outcome: 'completed', durationMs: options.clock.now() - startedAt }),
    options.simulateMs,
  );
  return {
    stop: async () => {
      options.clock.clearTimeout(handle);
    },
  };
}
