/**
 * Messages between a benchmark and its heartbeat-load child process (over the IPC channel).
 * The load runs in its own process so that publishing never competes with the fleet for
 * the same event loop, as with real workers on other machines.
 */

export interface LoadSetup {
  natsUrl: string;
  /** Worker ids are `<prefix><index>`, index 0 … workers − 1, zero-padded. */
  workerPrefix: string;
  workers: number;
}

/**
 * Where a flood goes: the heartbeat subjects the control plane takes, or a look-alike subject
 * only the benchmark's raw subscriber takes (so the two can be measured in turns).
 */
export type LoadTarget = 'heartbeats' | 'raw';

/** `<RAW_SUBJECT_PREFIX><workerId>`: the same payloads, on subjects the control plane does not take. */
export const RAW_SUBJECT_PREFIX = 'benchraw.';

export type LoadCommand =
  /** Every running worker beats once per `intervalMs`, evenly spread, for `durationMs`. */
  | { type: 'paced'; intervalMs: number; durationMs: number }
  /**
   * As fast as the consumer keeps up: at most `window` messages beyond the `processed` count
   * the benchmark last reported (credit-based, so the server never has to drop anything).
   */
  | { type: 'flood'; durationMs: number; window: number; target: LoadTarget }
  /** How many of this flood's messages the consumer has taken so far. */
  | { type: 'credit'; processed: number }
  /** Workers `from` … `from + count − 1` go silent from now on, as if they had crashed. */
  | { type: 'stop-workers'; from: number; count: number }
  /** Ends the running mode early. */
  | { type: 'halt' }
  | { type: 'exit' };

export type LoadReport =
  | { type: 'ready' }
  | { type: 'stopped'; from: number; count: number; stoppedAt: number }
  /** Sent so far by the mode in progress, every PROGRESS_EVERY_MS. */
  | { type: 'progress'; sent: number }
  /** A mode ended (its duration passed or it was halted); `sent` counts the messages of that mode. */
  | { type: 'finished'; mode: 'paced' | 'flood'; sent: number; skipped: number; cpuMs: number }
  | { type: 'failed'; message: string };

export const PROGRESS_EVERY_MS = 100;

/** The prefix of the simulated workers' ids in every benchmark. */
export const BENCH_WORKER_PREFIX = 'w';

export function workerIdFor(prefix: string, index: number): string {
  return `${prefix}${String(index).padStart(6, '0')}`;
}

/** The ids of the first `count` simulated workers: the ones a benchmark stops. */
export function firstWorkerIds(count: number): Set<string> {
  return new Set(Array.from({ length: count }, (_, index) => workerIdFor(BENCH_WORKER_PREFIX, index)));
}

/** The address simulated worker `index` reports in its heartbeats. */
export function simulatedAddress(index: number): string {
  return `127.0.0.1:${50_000 + (index % 10_000)}`;
}

/** The capacity every simulated worker reports. */
export const SIMULATED_CAPACITY = { cpu: 8, memoryGb: 16, storageGb: 100, gpu: 1 } as const;
