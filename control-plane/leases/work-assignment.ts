/**
 * Which control plane should hold which partition: pure, so every control plane computes the
 * same answer from the same view. Partitions are dealt round-robin over the live members in id
 * order; the scheduler goes to whoever takes it first.
 */

export function desiredHolderOf(partition: number, liveMembers: readonly string[]): string | undefined {
  if (liveMembers.length === 0) return undefined;
  const sorted = [...liveMembers].sort();
  return sorted[partition % sorted.length];
}

export interface AssignmentView {
  me: string;
  /** Members whose announcement has not expired, this one included. */
  liveMembers: readonly string[];
  /** Holder of each partition whose lease has not expired. */
  holders: ReadonlyMap<number, string>;
  partitions: readonly number[];
  /** How long each free partition has been seen free. */
  freeForMs: ReadonlyMap<number, number>;
  /** A partition left free this long by the member it is meant for is taken by whoever sees it (that member may be stuck). */
  orphanAfterMs: number;
}

export interface AssignmentMoves {
  /** Free partitions this control plane should take. */
  acquire: number[];
  /** Partitions this control plane holds that another live member should have. */
  release: number[];
}

export function planMoves(view: AssignmentView): AssignmentMoves {
  const moves: AssignmentMoves = { acquire: [], release: [] };
  for (const partition of view.partitions) {
    const desired = desiredHolderOf(partition, view.liveMembers);
    const holder = view.holders.get(partition);
    if (holder === undefined) {
      const orphaned = (view.freeForMs.get(partition) ?? 0) >= view.orphanAfterMs;
      if (desired === view.me || orphaned) moves.acquire.push(partition);
    } else if (holder === view.me && desired !== undefined && desired !== view.me)
      moves.release.push(partition);
  }
  return moves;
}

/**
 * The partitions whose heartbeats this member notes, so that a takeover judges their workers
 * from their real last heartbeats: those another member holds that this one would be dealt if
 * that member died; the free ones (whoever takes them: a dead member's entry may outlive its
 * leases by a moment, and what was heard must survive that moment); and its own, which it
 * stops noting once it listens to them (what was heard lasts until their workers are restored).
 */
export function watchedPartitions(
  view: Pick<AssignmentView, 'me' | 'liveMembers' | 'holders' | 'partitions'>,
): number[] {
  return view.partitions.filter((partition) => {
    const holder = view.holders.get(partition);
    if (holder === undefined || holder === view.me) return true;
    const survivors = view.liveMembers.filter((member) => member !== holder);
    return desiredHolderOf(partition, survivors) === view.me;
  });
}
