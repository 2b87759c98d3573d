import type { Candidates, PlacementPolicy } from './policy.js';

/** Round-robin's memory: the worker it picked last. */
export interface RoundRobinCursor {
  lastWorkerId: string | undefined;
}

/**
 * The original's round-robin: worker ids sorted, start after the last one picked, take the
 * first that fits (candidates all fit), wrapping around to the start. Candidates come in id
 * order, so the one after the cursor is found by bisection.
 */
function pickRoundRobin(cursor: RoundRobinCursor, candidates: Candidates): string | undefined {
  const { count, slots, workerIds } = candidates;
  if (count === 0) return undefined;
  const idAt = (index: number) => workerIds[slots[index] as number] as string;
  const last = cursor.lastWorkerId;
  if (last === undefined) return idAt(0);
  let low = 0;
  let high = count;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (idAt(middle) > last) high = middle;
    else low = middle + 1;
  }
  return idAt(low < count ? low : 0);
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
