import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
import {
  ID_RULE,
  isValidTaskId,
  TASK_CANCEL_SUBJECT,
  TASK_REPORTS_WILDCARD,
  TASK_SUBMIT_SUBJECT,
} from '../streams/contracts/subjects.js';
import {
  type CancelReply,
  cancelRequestSchema,
  type PlacementOutcome,
  type ReportReply,
  type SubmitReply,
  submitRequestSchema,
  type TaskLost,
  workerReportSchema,
} from '../streams/contracts/task-events.js';
import { serveJsonRequests } from '../streams/nats/request-reply.js';
import { decodeJson } from '../streams/util/json-codec.js';
import { type Logger, RateLimitedLog } from '../streams/util/logger.js';
import type { ClusterState } from './cluster-state.js';
import type { DecisionPublisher } from './decision-publisher.js';
import { validateTaskRequest } from './task-model.js';

export interface TaskRequestsOptions {
  nc: NatsConnection;
  logger: Logger;
  state: ClusterState;
  decisions: DecisionPublisher;
  /** Longest a submit request waits for the task's first placement outcome. */
  submitWaitMs: number;
  now: () => number;
  /** A worker reports an attempt it lost (it restarted under it): the placement side requeues it. */
  onLost: (report: TaskLost) => ReportReply;
}

const SCHEDULER_QUEUE_GROUP = 'cloudai-scheduler';

/**
 * The scheduler's front door: submit and cancel from users, reports from the workers' agents.
 * A submit is answered with the task's first placement outcome, which the placement side
 * hands in through `resolveOutcome`.
 */
export class TaskRequests {
  /** Requests answered with an error. */
  rejected = 0;
  private readonly outcomeWaiters = new Map<string, (outcome: PlacementOutcome) => void>();
  private readonly subscriptions: Subscription[] = [];
  private readonly log: RateLimitedLog;

  constructor(private readonly options: TaskRequestsOptions) {
    this.log = new RateLimitedLog(options.logger);
  }

  /** Starts answering the request subjects (one queue group: any scheduler may answer). */
  serve(): void {
    this.answer(TASK_SUBMIT_SUBJECT, (msg) => this.handleSubmit(msg));
    this.answer(TASK_CANCEL_SUBJECT, (msg) => this.handleCancel(msg));
    this.answer(TASK_REPORTS_WILDCARD, (msg) => this.handleReport(msg));
  }

  /** Answers the submit request waiting for this task's first placement outcome, if any. */
  resolveOutcome(taskId: string, outcome: PlacementOutcome): void {
    const resolve = this.outcomeWaiters.get(taskId);
    if (!resolve) return;
    this.outcomeWaiters.delete(taskId);
    resolve(outcome);
  }

  /** Finishes the requests in flight and takes no more. */
  async stopServing(): Promise<void> {
    for (const subscription of this.subscriptions) {
      if (!subscription.isClosed()) await subscription.drain();
    }
  }

  /** Answers every submit still waiting: its task is placed when a scheduler runs again. */
  releaseWaiting(): void {
    for (const taskId of [...this.outcomeWaiters.keys()]) {
      this.resolveOutcome(taskId, {
        kind: 'queued',
        reason: 'the scheduler is stopping; it is placed when it starts again',
      });
    }
  }

  private answer(subject: string, handle: (msg: Msg) => Promise<unknown>): void {
    this.subscriptions.push(
      serveJsonRequests<unknown>(this.options.nc, subject, {
        queue: SCHEDULER_QUEUE_GROUP,
        logger: this.options.logger,
        handle,
        onFailure: (error) => ({ ok: false, error: `the scheduler failed: ${error.message}` }),
      }),
    );
  }

  private async handleSubmit(msg: Msg): Promise<SubmitReply> {
    const { state, decisions, now } = this.options;
    const decoded = decodeJson(msg.data, submitRequestSchema);
    if (!decoded.ok) return this.reject(`malformed submit request: ${decoded.detail}`);
    const { taskId, task: request } = decoded.value;
    if (!isValidTaskId(taskId)) {
      return this.reject(`task id ${JSON.stringify(taskId)} is invalid: use ${ID_RULE}`);
    }
    if (state.statusOf(taskId) !== undefined || decisions.pending.isPending(taskId)) {
      return this.reject(`task ${taskId} already exists: submit it again to get a new id`);
    }
    const validation = validateTaskRequest(request, now());
    if (!validation.ok) return this.reject(validation.problems.map((problem) => problem.message).join('; '));
    const outcome = new Promise<PlacementOutcome>((resolve) => {
      const timer = setTimeout(
        () =>
          this.resolveOutcome(taskId, {
            kind: 'queued',
            reason: 'no placement decided yet; see `cloudai task show`',
          }),
        this.options.submitWaitMs,
      );
      this.outcomeWaiters.set(taskId, (result) => {
        clearTimeout(timer);
        resolve(result);
      });
    });
    const stored = await decisions.publishDecision(
      { type: 'TaskSubmitted', taskId, at: now(), task: validation.task },
      'submit',
    );
    if (!stored) {
      this.outcomeWaiters.delete(taskId);
      return this.reject('the task could not be stored: the scheduler is stopping; submit it again');
    }
    return { ok: true, taskId, outcome: await outcome };
  }

  /**
   * A worker's report of an attempt it runs, stored in TASKS on its behalf (workers may not
   * write streams). The subject names the reporter: a report about another worker is refused.
   */
  private async handleReport(msg: Msg): Promise<ReportReply> {
    const decoded = decodeJson(msg.data, workerReportSchema);
    if (!decoded.ok) {
      this.log.warn('malformed-report', `refused a malformed report on ${msg.subject}: ${decoded.detail}`);
      return { stored: false, reason: `malformed report: ${decoded.detail}` };
    }
    const report = decoded.value;
    const reporter = msg.subject.slice(msg.subject.lastIndexOf('.') + 1);
    if (report.workerId !== reporter) {
      this.log.warn('spoofed-report', `refused a report about worker ${report.workerId} sent by ${reporter}`);
      return {
        stored: false,
        reason: `a worker reports only its own attempts (this report names ${report.workerId})`,
      };
    }
    if (report.type === 'TaskLost') return this.options.onLost(report);
    await this.options.decisions.publishReport(report);
    return { stored: true };
  }

  private async handleCancel(msg: Msg): Promise<CancelReply> {
    const { state, decisions, now } = this.options;
    const decoded = decodeJson(msg.data, cancelRequestSchema);
    if (!decoded.ok) return this.reject(`malformed cancel request: ${decoded.detail}`);
    const { taskId } = decoded.value;
    const status = state.statusOf(taskId);
    if (status === undefined) return this.reject(`no task ${taskId}: list the tasks with \`cloudai tasks\``);
    if (status === 'completed' || status === 'failed' || status === 'cancelled') {
      return this.reject(`task ${taskId} is already ${status}: there is nothing to cancel`);
    }
    if (decisions.pending.isPendingKind(taskId, 'cancel'))
      return { ok: true, taskId, previousStatus: status };
    const stored = await decisions.publishDecision(
      { type: 'TaskCancelled', taskId, at: now(), reason: 'cancelled by user' },
      'cancel',
    );
    if (!stored)
      return this.reject('the cancellation could not be stored: the scheduler is stopping; try again');
    return { ok: true, taskId, previousStatus: status };
  }

  private reject(error: string): { ok: false; error: string } {
    this.rejected++;
    return { ok: false, error };
  }
}
