import { addResources } from '../projections/resources.js';
import { isSchedulable } from '../projections/worker-document.js';
import type { ClusterState } from './cluster-state.js';
import type { PendingDecisions } from './pending-decisions.js';
import { PlacementWorkers } from './placement.js';

/** Long enough that a registering fleet's batches keep pushing it back, short enough to end before a person submits. */
const INDEX_WHEN_QUIET_MS = 100;
/** A few milliseconds of indexing: what heartbeats wait for at most while the view indexes ahead. */
const INDEX_CHUNK = 1_000;

export interface PlacementViewOptions {
  state: ClusterState;
  pending: PendingDecisions;
  /** How long no worker may change before the changed ones are indexed ahead of a pass. */
  indexWhenQuietMs?: number;
  /** Workers indexed per turn of the event loop when indexing ahead. */
  indexChunk?: number;
}

/**
 * The workers as a placement pass sees them: `PlacementWorkers`, and the schedulable ones by
 * runtime for the host-task rule, told only of the workers that changed. A pass brings in every
 * change first (`update`). After a burst of changes (a fleet registering) the view also indexes
 * them once the workers have been quiet a moment, a chunk per turn, so that the first submission
 * after the burst does not wait for the whole fleet to be indexed.
 */
export class PlacementView {
  readonly workers = new PlacementWorkers();
  /** The schedulable workers by runtime, for the host-task rule (workers that name none are not judged). */
  readonly hostWorkers = new Set<string>();
  readonly containerWorkers = new Set<string>();
  /** Changed workers taken from the state and the pending decisions, not yet indexed. */
  private unindexed = new Set<string>();
  private quietTimer: NodeJS.Timeout | undefined;
  private chunkScheduled: NodeJS.Immediate | undefined;
  private indexedListeners: (() => void)[] = [];
  private closed = false;

  constructor(private readonly options: PlacementViewOptions) {}

  /** How many changed workers wait to be indexed (pending decisions' reservations aside). */
  get unindexedCount(): number {
    return this.unindexed.size;
  }

  /** Workers changed: index them once none has changed for `indexWhenQuietMs`. */
  workersChanged(): void {
    if (this.closed) return;
    if (this.quietTimer) {
      this.quietTimer.refresh();
      return;
    }
    this.quietTimer = setTimeout(() => {
      this.quietTimer = undefined;
      this.indexAhead();
    }, this.options.indexWhenQuietMs ?? INDEX_WHEN_QUIET_MS);
    this.quietTimer.unref();
  }

  /** Brings in every change before a pass. */
  update(): void {
    this.index(Number.POSITIVE_INFINITY);
  }

  /** Resolves once the view has indexed every change it was told of (at once if none waits). */
  whenIndexed(): Promise<void> {
    if (this.unindexed.size === 0 && !this.quietTimer && !this.chunkScheduled) return Promise.resolve();
    return new Promise((resolve) => this.indexedListeners.push(resolve));
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.quietTimer);
    if (this.chunkScheduled) clearImmediate(this.chunkScheduled);
    this.quietTimer = undefined;
    this.chunkScheduled = undefined;
    this.notifyIndexed();
  }

  private indexAhead(): void {
    this.chunkScheduled = undefined;
    if (this.closed) return;
    this.index(this.options.indexChunk ?? INDEX_CHUNK);
    if (this.unindexed.size > 0) this.chunkScheduled = setImmediate(() => this.indexAhead());
    else this.notifyIndexed();
  }

  private notifyIndexed(): void {
    if (this.quietTimer) return;
    const listeners = this.indexedListeners;
    this.indexedListeners = [];
    for (const listener of listeners) listener();
  }

  /** Indexes at most `limit` of the changed workers. */
  private index(limit: number): void {
    this.takeChanges();
    if (this.unindexed.size === 0) return;
    let indexed = 0;
    for (const workerId of this.unindexed) {
      if (indexed++ === limit) break;
      this.unindexed.delete(workerId);
      this.indexWorker(workerId);
    }
  }

  private takeChanges(): void {
    const { state, pending } = this.options;
    const changed = state.takeChangedWorkers();
    if (this.unindexed.size === 0) this.unindexed = changed;
    else for (const workerId of changed) this.unindexed.add(workerId);
    for (const workerId of pending.takeChangedWorkers()) this.unindexed.add(workerId);
  }

  private indexWorker(workerId: string): void {
    const { state, pending } = this.options;
    const worker = state.workers.get(workerId);
    this.hostWorkers.delete(workerId);
    this.containerWorkers.delete(workerId);
    if (!worker) return;
    const { runtime } = worker.capacity;
    if (runtime !== undefined && isSchedulable(worker)) {
      (runtime === 'process' ? this.hostWorkers : this.containerWorkers).add(workerId);
    }
    this.workers.upsert({
      workerId,
      status: worker.status,
      flapping: worker.flapping,
      cordoned: worker.cordoned,
      drain: worker.drain ?? null,
      capacity: worker.capacity,
      allocated: addResources(state.allocatedOn(workerId), pending.reservedOn(workerId)),
    });
  }
}
