import { addResources } from '../projections/resources.js';
import { isSchedulable } from '../projections/worker-document.js';
import type { Clock } from '../streams/util/clock.js';
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
  /** Times the quiet wait (tests: a SimulatedClock). */
  clock: Clock;
  /** Schedules the next chunk of indexing ahead (`setImmediate`: heartbeats get their turn between chunks). */
  continueLater: (resume: () => void) => void;
  /** How long no worker may change before the changed ones are indexed ahead of a pass. */
  indexWhenQuietMs?: number;
  /** Workers indexed per chunk when indexing ahead. */
  indexChunk?: number;
}

/**
 * The workers as a placement pass sees them: `PlacementWorkers`, and the schedulable ones by
 * runtime for the host-task rule, told only of the workers that changed. A pass brings in every
 * change first (`update`). After a burst of changes (a fleet registering) the view also indexes
 * them once the workers have been quiet a moment, a chunk at a time, so that the first
 * submission after the burst does not wait for the whole fleet to be indexed.
 */
export class PlacementView {
  readonly workers = new PlacementWorkers();
  /** The schedulable workers by runtime, for the host-task rule (workers that name none are not judged). */
  readonly hostWorkers = new Set<string>();
  readonly containerWorkers = new Set<string>();
  /** Changed workers taken from the state and the pending decisions, not yet indexed. */
  private unindexed = new Set<string>();
  private readonly quietMs: number;
  private lastChangeAt = 0;
  private quietTimer: unknown;
  private indexingAhead = false;
  private closed = false;

  constructor(private readonly options: PlacementViewOptions) {
    this.quietMs = options.indexWhenQuietMs ?? INDEX_WHEN_QUIET_MS;
  }

  /** Workers changed: index them once none has changed for `indexWhenQuietMs`. */
  workersChanged(): void {
    if (this.closed) return;
    // Noted, not re-armed: a registration burst calls this for every batch.
    this.lastChangeAt = this.options.clock.now();
    if (this.quietTimer === undefined) this.waitForQuiet(this.quietMs);
  }

  /** Brings in every change before a pass. */
  update(): void {
    this.index(Number.POSITIVE_INFINITY);
  }

  close(): void {
    this.closed = true;
    if (this.quietTimer !== undefined) this.options.clock.clearTimeout(this.quietTimer);
    this.quietTimer = undefined;
  }

  private waitForQuiet(delayMs: number): void {
    const { clock } = this.options;
    this.quietTimer = clock.setTimeout(() => {
      this.quietTimer = undefined;
      const quietForMs = clock.now() - this.lastChangeAt;
      if (quietForMs < this.quietMs) this.waitForQuiet(this.quietMs - quietForMs);
      else if (!this.indexingAhead) this.indexAhead();
    }, delayMs);
  }

  private indexAhead(): void {
    this.indexingAhead = false;
    if (this.closed) return;
    this.index(this.options.indexChunk ?? INDEX_CHUNK);
    if (this.unindexed.size === 0) return;
    this.indexingAhead = true;
    this.options.continueLater(() => this.indexAhead());
  }

  /** Indexes at most `limit` of the changed workers. */
  private index(limit: number): void {
    this.takeChanges();
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
