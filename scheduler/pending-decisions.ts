import { addResources, NO_RESOURCES, type Resources } from '../projections/resources.js';

export type DecisionKind = 'submit' | 'assign' | 'requeue' | 'cancel';

/** An event the scheduler has published and not yet seen applied from the stream. */
export interface PendingDecision {
  messageId: string;
  taskId: string;
  kind: DecisionKind;
  /** For an assignment: the worker it reserves resources on until the stream confirms it. */
  workerId?: string;
  requests?: Resources;
  /** Known once JetStream acknowledged the event. */
  streamSeq?: number;
  /** Runs once the event is applied, e.g. to dispatch an assignment. */
  onApplied?: () => void;
}

/**
 * A decision changes the scheduler's view of the cluster only once the stream has it applied.
 * Until then it is pending: its task is left alone and an assignment's resources count as
 * taken, so the next decision cannot double-book them.
 */
export class PendingDecisions {
  private readonly byMessageId = new Map<string, PendingDecision>();
  private readonly perTask = new Map<string, number>();
  /** workerId → the pending assignments that reserve resources on it, oldest first. */
  private readonly assignsByWorker = new Map<string, Set<Reservation>>();
  /** Workers whose reserved resources changed since `takeChangedWorkers`. */
  private changedWorkers = new Set<string>();

  add(decision: PendingDecision): void {
    this.byMessageId.set(decision.messageId, decision);
    this.perTask.set(decision.taskId, (this.perTask.get(decision.taskId) ?? 0) + 1);
    if (reserves(decision)) {
      const onWorker = this.assignsByWorker.get(decision.workerId) ?? new Set();
      onWorker.add(decision);
      this.assignsByWorker.set(decision.workerId, onWorker);
      this.changedWorkers.add(decision.workerId);
    }
  }

  /** Records JetStream's sequence; returns the decision if the stream has been applied past it already. */
  stored(messageId: string, streamSeq: number, appliedPosition: number): PendingDecision | undefined {
    const decision = this.byMessageId.get(messageId);
    if (!decision) return undefined;
    decision.streamSeq = streamSeq;
    return streamSeq <= appliedPosition ? this.remove(messageId) : undefined;
  }

  /** Removes and returns the decisions whose events are now applied. */
  applied(position: number): PendingDecision[] {
    const done: PendingDecision[] = [];
    for (const decision of [...this.byMessageId.values()]) {
      if (decision.streamSeq !== undefined && decision.streamSeq <= position) {
        this.remove(decision.messageId);
        done.push(decision);
      }
    }
    return done;
  }

  /** Forgets a decision that was never stored (publisher closed). */
  remove(messageId: string): PendingDecision | undefined {
    const decision = this.byMessageId.get(messageId);
    if (!decision) return undefined;
    this.byMessageId.delete(messageId);
    const left = (this.perTask.get(decision.taskId) ?? 1) - 1;
    if (left > 0) this.perTask.set(decision.taskId, left);
    else this.perTask.delete(decision.taskId);
    if (reserves(decision)) {
      const onWorker = this.assignsByWorker.get(decision.workerId);
      onWorker?.delete(decision);
      if (onWorker?.size === 0) this.assignsByWorker.delete(decision.workerId);
      this.changedWorkers.add(decision.workerId);
    }
    return decision;
  }

  isPending(taskId: string): boolean {
    return this.perTask.has(taskId);
  }

  isPendingKind(taskId: string, kind: DecisionKind): boolean {
    for (const decision of this.byMessageId.values()) {
      if (decision.taskId === taskId && decision.kind === kind) return true;
    }
    return false;
  }

  /** Resources that pending assignments take on a worker. */
  reservedOn(workerId: string): Resources {
    let reserved = NO_RESOURCES;
    for (const decision of this.assignsByWorker.get(workerId) ?? []) {
      reserved = addResources(reserved, decision.requests);
    }
    return reserved;
  }

  /** The workers whose reserved resources changed since the last call. */
  takeChangedWorkers(): Set<string> {
    const changed = this.changedWorkers;
    this.changedWorkers = new Set();
    return changed;
  }
}

/** An assignment's decision, which holds resources on its worker until it is applied. */
type Reservation = PendingDecision & { workerId: string; requests: Resources };

function reserves(decision: PendingDecision): decision is Reservation {
  return decision.kind === 'assign' && !!decision.workerId && !!decision.requests;
}
