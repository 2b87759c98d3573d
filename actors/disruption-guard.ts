import type { DisruptionEvent, WorkerEvent, WorkerStatus } from '../streams/contracts/worker-events.js';
import type { DisruptionSettings } from './liveness-settings.js';

export interface DisruptionGuardOptions {
  settings: DisruptionSettings;
  heartbeatTimeoutMs: number;
  /** The fleet's live counts of workers by status. */
  counts: Readonly<Record<WorkerStatus, number>>;
  /** Publishes DisruptionStarted / DisruptionEnded. */
  emit: (event: DisruptionEvent) => void;
  /** Tells the workers held `suspect` that the mode ended (the fleet sends it to their actors). */
  release: (
    workerIds: readonly string[],
    event: { type: 'DISRUPTION_ENDED'; at: number; endedBy: 'heartbeats' | 'operator' },
  ) => void;
}

/** How many workers look unhealthy, out of how many are considered. */
interface Census {
  unhealthy: number;
  considered: number;
}

/**
 * The mass-failure guard. When more than `thresholdPercent` of the workers (and more than
 * `minWorkers`) would turn inactive within one timeout window, the likelier story is that the
 * control plane lost sight of them, not that they all died. Then the fleet is in disruption
 * mode: timed-out workers are held `suspect`, so nobody is declared inactive and nothing is
 * requeued. Counted: the suspect, those declared inactive within the last timeout, and the one
 * timing out now, against those plus the active; long-dead workers count for neither.
 *
 * It ends when heartbeats return (the held get a full timeout from then) or when an operator
 * ends it (the view was right: the held are declared inactive at once).
 */
export class DisruptionGuard {
  private activeMode = false;
  private seq = 0;
  private readonly held = new Set<string>();
  /** Workers declared inactive within the last timeout: id → when. */
  private readonly recentlyInactive = new Map<string, number>();
  /** The census that made `doubts` answer yes for a worker not yet held; `hold` starts the mode with it. */
  private breachingCensus: Census | undefined;
  /** Set while the held workers of an operator's end turn inactive: confirmed, not news of a failure. */
  private confirmingByOperator = false;

  constructor(private readonly options: DisruptionGuardOptions) {}

  get active(): boolean {
    return this.activeMode;
  }

  /** Continues the mode (and its event numbering) as the event log left it. */
  restore(state: { active: boolean; lastEventSeq: number }): void {
    this.activeMode = state.active;
    this.seq = Math.max(this.seq, state.lastEventSeq);
  }

  /** Whether the worker whose timeout has come (now `status`) should be held rather than declared inactive. */
  doubts(status: WorkerStatus | undefined, now: number): boolean {
    if (this.activeMode) return true;
    const census = this.census(now, status === 'active' ? 1 : 0);
    if (!this.breached(census)) return false;
    this.breachingCensus = census;
    return true;
  }

  /** A worker is held `suspect` at its timeout; the first one starts the mode. */
  hold(workerId: string, now: number): void {
    if (!this.activeMode) {
      const census = this.breachingCensus ?? this.census(now, 0);
      this.activeMode = true;
      this.seq++;
      this.options.emit({
        type: 'DisruptionStarted',
        at: now,
        seq: this.seq,
        unhealthyWorkers: census.unhealthy,
        consideredWorkers: census.considered,
        thresholdPercent: this.options.settings.thresholdPercent,
      });
    }
    this.breachingCensus = undefined;
    this.held.add(workerId);
  }

  /** Follows each worker's status changes (the fleet calls it for every event that changes one). */
  observe(event: WorkerEvent, now: number): void {
    switch (event.type) {
      case 'WorkerInactive':
        if (!this.confirmingByOperator) this.recentlyInactive.set(event.workerId, event.at);
        return;
      case 'WorkerRemoved':
      case 'WorkerLeft':
        this.recentlyInactive.delete(event.workerId);
        this.held.delete(event.workerId);
        return;
      case 'WorkerRegistered':
      case 'WorkerActivated':
      case 'WorkerRecovered':
        this.recentlyInactive.delete(event.workerId);
        this.held.delete(event.workerId);
        if (this.activeMode && !this.breached(this.census(now, 0))) this.end('heartbeats', now);
        return;
      default:
        return;
    }
  }

  end(endedBy: 'heartbeats' | 'operator', now: number): void {
    if (!this.activeMode) return;
    this.activeMode = false;
    this.seq++;
    this.options.emit({ type: 'DisruptionEnded', at: now, seq: this.seq, endedBy });
    const held = [...this.held];
    this.held.clear();
    this.confirmingByOperator = endedBy === 'operator';
    try {
      this.options.release(held, { type: 'DISRUPTION_ENDED', at: now, endedBy });
    } finally {
      this.confirmingByOperator = false;
    }
  }

  /** The fleet no longer judges this worker (its partition moved to another control plane). */
  forget(workerId: string): void {
    this.held.delete(workerId);
    this.recentlyInactive.delete(workerId);
  }

  /** The fleet dropped its actors (suspended): nobody is held any more; they are re-judged when restored. */
  forgetHeld(): void {
    this.held.clear();
  }

  private census(now: number, timingOutNow: number): Census {
    const windowStart = now - this.options.heartbeatTimeoutMs;
    // In the order they were declared (a comeback deletes, so a second outage goes to the end):
    // the expired ones are at the front, and a mass failure costs O(1) a worker, not O(n).
    for (const [workerId, at] of this.recentlyInactive) {
      if (at >= windowStart) break;
      this.recentlyInactive.delete(workerId);
    }
    const { active, suspect } = this.options.counts;
    const recent = this.recentlyInactive.size;
    return { unhealthy: suspect + recent + timingOutNow, considered: active + suspect + recent };
  }

  private breached({ unhealthy, considered }: Census): boolean {
    const { thresholdPercent, minWorkers } = this.options.settings;
    return unhealthy > minWorkers && unhealthy * 100 > thresholdPercent * considered;
  }
}
