import type { NatsConnection } from '@nats-io/transport-node';
import { specOf, type TaskDocument } from '../projections/task-document.js';
import { taskAssignSubject } from '../streams/contracts/subjects.js';
import {
  type Assignment,
  assignmentReplySchema,
  type PlacementOutcome,
  REQUEUE_REASONS,
  type StopRequest,
} from '../streams/contracts/task-events.js';
import { requestJson } from '../streams/nats/request-reply.js';
import { type Logger, RateLimitedLog } from '../streams/util/logger.js';
import type { ClusterState } from './cluster-state.js';
import type { DisruptionHolds } from './disruption-holds.js';
import type { Exclusions } from './exclusions.js';

export interface AssignmentOffersOptions {
  nc: NatsConnection;
  logger: Logger;
  state: ClusterState;
  holds: DisruptionHolds;
  exclusions: Exclusions;
  /** How long a worker's agent has to acknowledge an assignment. */
  assignTimeoutMs: number;
  resolveOutcome: (taskId: string, outcome: PlacementOutcome) => void;
  publishRequeue: (task: TaskDocument, reason: string) => void;
  sendStop: (workerId: string, request: StopRequest) => void;
  isStopping: () => boolean;
}

/**
 * Offers applied assignments to the workers' agents (request/reply). No acknowledgement in
 * time, or a refusal, gives the attempt up: the task is requeued and not offered to that
 * worker again for a while, so it goes elsewhere.
 */
export class AssignmentOffers {
  /** Attempts given up because the agent did not take them. */
  notAcknowledged = 0;
  private readonly log: RateLimitedLog;

  constructor(private readonly options: AssignmentOffersOptions) {
    this.log = new RateLimitedLog(options.logger);
  }

  /** Sends the offer of an attempt the log holds as assigned to `workerId`; any other is let be. */
  async sendOffer(taskId: string, attempt: number, workerId: string): Promise<void> {
    const { state } = this.options;
    const task = state.task(taskId);
    if (task?.status !== 'assigned' || task.attempt !== attempt || task.workerId !== workerId) return;
    const assignment: Assignment = { taskId, attempt, task: specOf(task) };
    const reply = await requestJson(
      this.options.nc,
      taskAssignSubject(workerId),
      assignment,
      assignmentReplySchema,
      this.options.assignTimeoutMs,
    );
    if (reply.ok && reply.value.accepted) {
      this.options.resolveOutcome(taskId, { kind: 'assigned', workerId });
      return;
    }
    const failure = reply.ok
      ? `${REQUEUE_REASONS.refusedByWorker}: ${reply.value.reason ?? 'no reason given'}`
      : `${REQUEUE_REASONS.notAcknowledged}: ${reply.failure === 'no-responders' ? 'no agent listens for it' : reply.detail}`;
    if (this.options.isStopping()) return;
    const current = state.attemptOn(taskId, attempt, workerId);
    if (!reply.ok && state.disruption.active) {
      // No answer may be the very partition that caused the disruption: the agent may run it.
      // A refusal is an answer, and is acted on even now.
      if (current) this.options.holds.hold(current, failure);
      return;
    }
    this.notAcknowledged++;
    this.log.warn(
      `dispatch-${workerId}`,
      `worker ${workerId} did not take task ${taskId} (${failure}); placing it elsewhere`,
    );
    this.options.exclusions.add(taskId, workerId);
    // It may have started after all (a reply lost on the way): make sure it stops.
    this.options.sendStop(workerId, { taskId, attempt });
    if (current) this.options.publishRequeue(current, failure);
  }
}
