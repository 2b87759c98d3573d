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

  add(decision: PendingDecision): void {
    this.byMessageId.set(decision.messageId, decision);
    this.perTask.set(decision.taskId, (this.perTask.get(decision.taskId) ?? 0) + 1);
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

  /** Resources that pending assignments take, per worker: one scan for a whole placement pass. */
  reservedByWorker(): Map<string, Resources> {
    const reserved = new Map<string, Resources>();
    for (const decision of this.byMessageId.values()) {
      if (decision.kind !== 'assign' || !decision.workerId || !decision.requests) continue;
      reserved.set(
        decision.workerId,
        addResources(reserved.get(decision.workerId) ?? NO_RESOURCES, decision.requests),
      );
    }
    return reserved;
  }
}
