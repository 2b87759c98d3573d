import type { CandidateWorker, PlacementPolicy } from './policy.js';

/** Round-robin's memory: the worker it picked last. */
export interface RoundRobinCursor {
  lastWorkerId: string | undefined;
}

/**
 * The original's round-robin: worker ids sorted, start after the last one picked, take the
 * first that fits (candidates all fit), wrapping around to the start.
 */
function pickRoundRobin(
  cursor: RoundRobinCursor,
  candidates: readonly CandidateWorker[],
): string | undefined {
  const ids = candidates.map((candidate) => candidate.workerId).sort();
  const last = cursor.lastWorkerId;
  return ids.find((id) => last === undefined || id > last) ?? ids[0];
}

export function createRoundRobinPolicy(
  cursor: RoundRobinCursor = { lastWorkerId: undefined },
): PlacementPolicy {
  return {
    name: 'round-robin',
    choose(_task, candidates) {
      const workerId = pickRoundRobin(cursor, candidates);
      if (workerId === undefined) return undefined;
      cursor.lastWorkerId = workerId;
      return { workerId, policy: 'round-robin' };
    },
  };
}
