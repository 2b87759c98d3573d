import type { Resources } from '../../projections/resources.js';
import type { TaskSpec } from '../../streams/contracts/task-events.js';

export const POLICY_NAMES = ['rts', 'round-robin'] as const;
export type PolicyName = (typeof POLICY_NAMES)[number];

export function isPolicyName(value: string): value is PolicyName {
  return (POLICY_NAMES as readonly string[]).includes(value);
}

/** One amount per worker and resource kind: `cpu[slot]` is the cores of the worker in that slot. */
export type ResourceColumns = { readonly [kind in keyof Resources]: Float64Array };

/** One worker as a policy sees it, for scoring a single candidate (explanations, tests). */
export interface CandidateWorker {
  workerId: string;
  capacity: Resources;
  /** Held by its assigned and running tasks, and by placements still being written. */
  allocated: Resources;
  /** capacity − allocated. */
  free: Resources;
}

/**
 * The schedulable workers on which a task fits, as columns: `slots[0..count)` are positions in
 * the columns, in worker-id order. A placement offers one task to thousands of workers, so
 * candidates are not objects: reading a few numbers per worker is what keeps that cheap.
 *
 * For a policy with `interchangeable`, they may instead be only the first (in id order) of each
 * group of workers with equal capacity and allocation, plus every worker the policy names, in
 * no particular order; `everyone()` gives all of them in id order (what a fallback that is not
 * interchangeable needs).
 */
export interface Candidates {
  readonly count: number;
  readonly slots: Int32Array;
  /** Worker id per slot. */
  readonly workerIds: readonly string[];
  readonly capacity: ResourceColumns;
  /** Held by its assigned and running tasks, and by placements still being written. */
  readonly allocated: ResourceColumns;
  /** capacity − allocated, never below zero. */
  readonly free: ResourceColumns;
  everyone(): Candidates;
}

export interface PlacementChoice {
  workerId: string;
  /** The policy that decided (RTS names round-robin when it had to fall back). */
  policy: PolicyName;
}

/**
 * Picks one worker among candidates that all fit the task (filtering for liveness and room
 * happens before a policy is asked). Pure apart from its own memory (round-robin's cursor).
 */
export interface PlacementPolicy {
  readonly name: PolicyName;
  /**
   * Set when the policy chooses the same among workers of equal capacity and allocation (the
   * first in id order), except for the workers it has `named` (per-worker parameters): a pass
   * then offers it one worker per such group, which is what keeps a large uniform fleet cheap.
   */
  readonly interchangeable?: { readonly named: ReadonlySet<string> };
  choose(task: TaskSpec, candidates: Candidates, now: number): PlacementChoice | undefined;
}

/** A per-worker number of a parameters file, 0 for a worker it does not name (never an inherited property). */
export function perWorker(values: Readonly<Record<string, number>> | undefined, workerId: string): number {
  return values !== undefined && Object.hasOwn(values, workerId) ? (values[workerId] ?? 0) : 0;
}

/** Columns holding the given workers, in the given order (slot i is workers[i]). */
export function candidatesOf(workers: readonly CandidateWorker[]): Candidates {
  const column = (pick: (worker: CandidateWorker) => Resources): ResourceColumns => ({
    cpu: Float64Array.from(workers, (worker) => pick(worker).cpu),
    memoryGb: Float64Array.from(workers, (worker) => pick(worker).memoryGb),
    storageGb: Float64Array.from(workers, (worker) => pick(worker).storageGb),
    gpu: Float64Array.from(workers, (worker) => pick(worker).gpu),
  });
  const candidates: Candidates = {
    count: workers.length,
    slots: Int32Array.from(workers, (_, index) => index),
    workerIds: workers.map((worker) => worker.workerId),
    capacity: column((worker) => worker.capacity),
    allocated: column((worker) => worker.allocated),
    free: column((worker) => worker.free),
    everyone: () => candidates,
  };
  return candidates;
}
