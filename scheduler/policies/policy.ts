import type { Resources } from '../../projections/resources.js';
import type { TaskSpec } from '../../streams/contracts/task-events.js';

export const POLICY_NAMES = ['rts', 'round-robin'] as const;
export type PolicyName = (typeof POLICY_NAMES)[number];

export function isPolicyName(value: string): value is PolicyName {
  return (POLICY_NAMES as readonly string[]).includes(value);
}

/** A schedulable worker on which the task fits, as a policy sees it. */
export interface CandidateWorker {
  workerId: string;
  capacity: Resources;
  /** Held by its assigned and running tasks, and by placements still being written. */
  allocated: Resources;
  /** capacity − allocated. */
  free: Resources;
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
  choose(task: TaskSpec, candidates: readonly CandidateWorker[], now: number): PlacementChoice | undefined;
}
