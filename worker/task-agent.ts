import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
import {
  describeResources,
  fitsWithin,
  type Resources,
  requestsOf,
  subtractResources,
  sumResources,
} from '../projections/resources.js';
import type { RunningTaskReport } from '../streams/contracts/heartbeat.js';
import { taskAssignSubject, taskReportSubject, taskStopSubject } from '../streams/contracts/subjects.js';
import {
  type Assignment,
  type AssignmentReply,
  assignmentSchema,
  encodeTaskEvent,
  MAX_REASON_LENGTH,
  reportReplySchema,
  stopRequestSchema,
  type TaskReport,
  taskEventMessageId,
} from '../streams/contracts/task-events.js';
import type { StoppedAttempt } from '../streams/contracts/worker-events.js';
import { OrderedPublisher, type OutgoingMessage } from '../streams/nats/ordered-publisher.js';
import { requestJson } from '../streams/nats/request-reply.js';
import { type Clock, MONOTONIC_CLOCK, wallNow } from '../streams/util/clock.js';
import { decodeJson, encodeJson } from '../streams/util/json-codec.js';
import { type Logger, RateLimitedLog } from '../streams/util/logger.js';
import { type Execution, type ExecutionResult, startExecution } from './task-execution.js';

export interface TaskAgentOptions {
  nc: NatsConnection;
  workerId: string;
  capacity: Resources;
  /** How long a task without a command takes. */
  simulateMs: number;
  logger: Logger;
  clock?: Clock;
}

interface RunningAttempt {
  attempt: number;
  requests: Resources;
  execution: Execution;
  /** It has ended and holds nothing here; it stays listed until its final report is stored. */
  ended: boolean;
}

/** Attempts remembered as done, so a repeated offer (after a scheduler restart) is not run twice. */
const FINISHED_MEMORY = 1_000;

/**
 * The worker side of scheduling, inside `cloudai worker`: acknowledges assignments on
 * `tasks.assign.<workerId>`, runs each attempt (its command with `sh -c`, or a simulated
 * duration; images are recorded, not run), reports start and end to TASKS, and lists what it
 * runs for the heartbeats. An attempt stays listed until its final report is stored.
 */
export class TaskAgent {
  readonly stats = { accepted: 0, refused: 0, malformed: 0, completed: 0, failed: 0, stopped: 0 };
  private readonly running = new Map<string, RunningAttempt>();
  private readonly finished = new Set<string>();
  private readonly publisher: OrderedPublisher;
  private readonly subscriptions: Subscription[] = [];
  private readonly log: RateLimitedLog;
  private readonly clock: Clock;
  private closed = false;

  constructor(private readonly options: TaskAgentOptions) {
    this.clock = options.clock ?? MONOTONIC_CLOCK;
    this.log = new RateLimitedLog(options.logger);
    // A worker may not write TASKS: its reports go to the scheduler, which stores them, in
    // order per task, each retried until the scheduler says it is stored.
    this.publisher = new OrderedPublisher({
      send: (message, timeoutMs) => this.sendReport(message, timeoutMs),
      logger: options.logger,
    });
  }

  start(): void {
    const { nc, workerId } = this.options;
    const listen = (subject: string, handle: (msg: Msg) => void) =>
      nc.subscribe(subject, {
        callback: (error, msg) => {
          if (!error) handle(msg);
        },
      });
    this.subscriptions.push(
      listen(taskAssignSubject(workerId), (msg) => this.handleAssign(msg)),
      listen(taskStopSubject(workerId), (msg) => this.handleStop(msg)),
    );
  }

  /** What runs here now, for the heartbeat. */
  runningTasks(): RunningTaskReport[] {
    return [...this.running].map(([taskId, { requests }]) => ({
      taskId,
      cpu: requests.cpu,
      memoryGb: requests.memoryGb,
      gpu: requests.gpu,
    }));
  }

  /**
   * Stops taking work and stops what runs; returns the attempts it stopped (those that had not
   * ended), for the worker's leave to name. Reports of attempts that ended are still sent.
   */
  stopAll(): StoppedAttempt[] {
    const stopped: StoppedAttempt[] = [];
    if (this.closed) return stopped;
    this.closed = true;
    for (const subscription of this.subscriptions) subscription.unsubscribe();
    for (const [taskId, attempt] of this.running) {
      if (attempt.ended) continue;
      attempt.execution.stop();
      this.stats.stopped++;
      stopped.push({ taskId, attempt: attempt.attempt });
    }
    this.running.clear();
    return stopped;
  }

  /** Reports of attempts that ended are stored, or given up after `timeoutMs`. */
  async flushReports(timeoutMs: number): Promise<void> {
    await this.publisher.flush(timeoutMs);
  }

  /**
   * Stops taking work and stops what runs, without reporting it: a worker that goes away
   * without a leave is noticed by its silence, and the scheduler requeues its tasks elsewhere.
   */
  async close(): Promise<void> {
    this.stopAll();
    await this.publisher.close(500);
  }

  private handleAssign(msg: Msg): void {
    const decoded = decodeJson(msg.data, assignmentSchema);
    if (!decoded.ok) {
      this.stats.malformed++;
      this.log.warn('malformed', `rejected a malformed assignment: ${decoded.detail}`);
      this.reply(msg, { accepted: false, reason: `malformed assignment: ${decoded.detail}` });
      return;
    }
    const assignment = decoded.value;
    // Judged before `accept`, which may stop an older attempt: a repeated offer is acknowledged
    // but never run again, whether the attempt still runs here, ended or was stopped.
    const repeated = this.isRepeatedOffer(assignment);
    const reply = this.accept(assignment);
    this.reply(msg, reply);
    if (reply.accepted && !repeated) this.run(assignment);
  }

  private isRepeatedOffer({ taskId, attempt }: Assignment): boolean {
    return this.running.get(taskId)?.attempt === attempt || this.finished.has(`${taskId}:${attempt}`);
  }

  private accept({ taskId, attempt, task }: Assignment): AssignmentReply {
    if (this.closed) return this.refuse('the worker is stopping');
    const current = this.running.get(taskId);
    // The same offer again (the scheduler restarted): it runs, or ran, already.
    if (this.isRepeatedOffer({ taskId, attempt, task })) return { accepted: true };
    if (current && current.attempt > attempt)
      return this.refuse(`attempt ${current.attempt} of ${taskId} runs here`);
    if (current) this.stopAttempt(taskId);
    const requests = requestsOf(task);
    const free = subtractResources(
      this.options.capacity,
      sumResources(
        [...this.running.values()].filter((running) => !running.ended).map((running) => running.requests),
      ),
    );
    if (!fitsWithin(requests, free)) {
      return this.refuse(
        `it needs ${describeResources(requests)} and only ${describeResources(free)} is free here`,
      );
    }
    this.stats.accepted++;
    return { accepted: true };
  }

  private refuse(reason: string): AssignmentReply {
    this.stats.refused++;
    return { accepted: false, reason };
  }

  private reply(msg: Msg, reply: AssignmentReply): void {
    if (!msg.reply) return;
    msg.respond(encodeJson(reply));
  }

  private run({ taskId, attempt, task }: Assignment): void {
    const { workerId, logger } = this.options;
    logger.info(
      `running task ${taskId} (attempt ${attempt}${task.image ? `, image ${task.image}` : ''}): ` +
        (task.command
          ? `sh -c ${JSON.stringify(task.command)}`
          : `simulated for ${this.options.simulateMs} ms`),
    );
    this.report({ type: 'TaskStarted', taskId, at: wallNow(this.clock), workerId, attempt });
    const execution = startExecution({
      command: task.command,
      simulateMs: this.options.simulateMs,
      clock: this.clock,
      onOutput: (line) => logger.info(`task ${taskId}: ${line}`),
      onExit: (result) => this.finish(taskId, attempt, result),
    });
    this.running.set(taskId, { attempt, requests: requestsOf(task), execution, ended: false });
  }

  private finish(taskId: string, attempt: number, result: ExecutionResult): void {
    const { workerId, logger } = this.options;
    const at = wallNow(this.clock);
    const report: TaskReport =
      result.outcome === 'completed'
        ? { type: 'TaskCompleted', taskId, at, workerId, attempt, durationMs: result.durationMs }
        : {
            type: 'TaskFailed',
            taskId,
            at,
            workerId,
            attempt,
            durationMs: result.durationMs,
            reason: result.reason.slice(0, MAX_REASON_LENGTH),
            exitCode: result.exitCode,
          };
    const current = this.running.get(taskId);
    if (current?.attempt === attempt) current.ended = true;
    this.stats[result.outcome]++;
    logger.info(`task ${taskId} (attempt ${attempt}) ${result.outcome} after ${result.durationMs} ms`);
    this.remember(`${taskId}:${attempt}`);
    void this.report(report).then(() => {
      if (this.running.get(taskId)?.attempt === attempt) this.running.delete(taskId);
    });
  }

  private handleStop(msg: Msg): void {
    const decoded = decodeJson(msg.data, stopRequestSchema);
    if (!decoded.ok) {
      this.stats.malformed++;
      this.log.warn('malformed', `rejected a malformed stop request: ${decoded.detail}`);
      return;
    }
    const { taskId, attempt } = decoded.value;
    const current = this.running.get(taskId);
    if (!current || (attempt !== undefined && attempt !== current.attempt)) return;
    this.options.logger.info(
      `stopping task ${taskId} (attempt ${current.attempt}): the scheduler no longer wants it here`,
    );
    this.stopAttempt(taskId);
  }

  private stopAttempt(taskId: string): void {
    const current = this.running.get(taskId);
    if (!current) return;
    current.execution.stop();
    this.running.delete(taskId);
    this.stats.stopped++;
    this.remember(`${taskId}:${current.attempt}`);
  }

  private report(event: TaskReport): Promise<void> {
    return this.publisher
      .publish(event.taskId, {
        subject: taskReportSubject(this.options.workerId),
        payload: encodeTaskEvent(event),
        messageId: taskEventMessageId(event),
      })
      .then(
        () => undefined,
        (error: Error) => {
          if (!this.closed)
            this.options.logger.warn(`report ${event.type} of ${event.taskId} not stored: ${error.message}`);
        },
      );
  }

  private async sendReport(message: OutgoingMessage, timeoutMs: number): Promise<number> {
    const reply = await requestJson(
      this.options.nc,
      message.subject,
      message.payload,
      reportReplySchema,
      timeoutMs,
    );
    if (!reply.ok) throw new Error(reply.detail);
    if (!reply.value.stored) {
      // Refused for good (not this worker's attempt): retrying cannot change the answer.
      this.log.warn(
        'refused-report',
        `the scheduler refused report ${message.messageId}: ${reply.value.reason ?? 'no reason'}`,
      );
    }
    return 0;
  }

  private remember(attemptKey: string): void {
    this.finished.add(attemptKey);
    if (this.finished.size > FINISHED_MEMORY) {
      const oldest = this.finished.values().next().value;
      if (oldest !== undefined) this.finished.delete(oldest);
    }
  }
}
