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
  MAX_REASON_LENGTH,
  reportReplySchema,
  stopRequestSchema,
  type TaskReport,
  type WorkerReport,
  workerReportKey,
} from '../streams/contracts/task-events.js';
import type { LogEnding } from '../streams/contracts/task-logs.js';
import type { StoppedAttempt } from '../streams/contracts/worker-events.js';
import { OrderedPublisher, type OutgoingMessage } from '../streams/nats/ordered-publisher.js';
import { requestJson } from '../streams/nats/request-reply.js';
import { type Clock, MONOTONIC_CLOCK, wallNow } from '../streams/util/clock.js';
import { decodeJson, encodeJson } from '../streams/util/json-codec.js';
import { type Logger, RateLimitedLog } from '../streams/util/logger.js';
import { ProcessRuntime } from './runtimes/process-runtime.js';
import { DEFAULT_TASK_STOP_GRACE_MS, type RunSpec, type TaskRuntime } from './runtimes/runtime.js';
import { type Execution, type ExecutionResult, startExecution } from './task-execution.js';
import { TaskLogShipper } from './task-log-shipper.js';

export interface TaskAgentOptions {
  nc: NatsConnection;
  workerId: string;
  capacity: Resources;
  /** How long a task without a command takes. */
  simulateMs: number;
  logger: Logger;
  clock?: Clock;
  /** Where commands run; `sh -c` on this host unless given. */
  runtime?: TaskRuntime;
  /** SIGTERM, then SIGKILL after this long, when a task is stopped. */
  stopGraceMs?: number;
}

interface RunningAttempt {
  attempt: number;
  requests: Resources;
  execution: Execution;
  logs: TaskLogShipper;
  /** GPU device indices it holds. */
  gpuDevices: number[];
  /** It has ended and holds nothing here; it stays listed until its final report is stored. */
  ended: boolean;
}

/** Attempts remembered as done, so a repeated offer (after a scheduler restart) is not run twice. */
const FINISHED_MEMORY = 1_000;

/**
 * The worker side of scheduling, inside `cloudai worker`: acknowledges assignments on
 * `tasks.assign.<workerId>`, runs each attempt (its command with `sh -c` in the runtime: the
 * task's image with limits, or the host; a task without a command is a simulated duration),
 * ships its output, reports start and end to TASKS, and lists what it runs for the heartbeats.
 * An attempt stays listed until its final report is stored.
 */
export class TaskAgent {
  readonly stats = { accepted: 0, refused: 0, malformed: 0, completed: 0, failed: 0, stopped: 0, lost: 0 };
  private readonly running = new Map<string, RunningAttempt>();
  /** Stops under way (their containers are still going away). */
  private readonly stopping = new Set<Promise<void>>();
  private readonly runtime: TaskRuntime;
  private readonly stopGraceMs: number;
  private readonly freeGpus: number[];
  private readonly finished = new Set<string>();
  private readonly publisher: OrderedPublisher;
  private readonly subscriptions: Subscription[] = [];
  private readonly log: RateLimitedLog;
  private readonly clock: Clock;
  private closed = false;

  constructor(private readonly options: TaskAgentOptions) {
    this.clock = options.clock ?? MONOTONIC_CLOCK;
    this.runtime = options.runtime ?? new ProcessRuntime();
    this.stopGraceMs = options.stopGraceMs ?? DEFAULT_TASK_STOP_GRACE_MS;
    this.freeGpus = Array.from({ length: Math.floor(options.capacity.gpu) }, (_, index) => index);
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
   * Finds the runs an earlier life of this worker left behind (it was killed while they ran),
   * removes them and reports each attempt lost, so the scheduler places it again. Call before
   * `start()`, so a repeated offer of such an attempt cannot meet its old container.
   */
  async recoverLeftovers(): Promise<number> {
    const { workerId, logger } = this.options;
    let leftovers: Awaited<ReturnType<TaskRuntime['leftovers']>>;
    try {
      leftovers = await this.runtime.leftovers(workerId);
    } catch (error) {
      logger.warn(`could not look for tasks left behind by an earlier run: ${(error as Error).message}`);
      return 0;
    }
    for (const leftover of leftovers) {
      const { taskId, attempt } = leftover;
      await this.runtime.remove(leftover);
      this.stats.lost++;
      this.remember(`${taskId}:${attempt}`);
      const reason = `${this.runtime.name} container ${leftover.name} was left running when ${workerId} stopped abruptly; removed at its restart`;
      logger.warn(`task ${taskId} (attempt ${attempt}) lost: ${reason}`);
      const logs = new TaskLogShipper({ nc: this.options.nc, workerId, taskId, attempt });
      logs.append(Buffer.from(`[cloudai] attempt ${attempt} lost: ${reason}\n`));
      logs.finish('lost');
      void this.report({ type: 'TaskLost', taskId, at: wallNow(this.clock), workerId, attempt, reason });
    }
    return leftovers.length;
  }

  /**
   * Stops taking work and stops what runs (SIGTERM, SIGKILL after the grace; containers
   * removed); resolves with the attempts it stopped (those that had not ended), for the worker's
   * leave to name. Reports of attempts that ended are still sent.
   */
  async stopAll(): Promise<StoppedAttempt[]> {
    if (this.closed) return [];
    this.closed = true;
    for (const subscription of this.subscriptions) subscription.unsubscribe();
    const stopped: StoppedAttempt[] = [];
    for (const [taskId, running] of [...this.running]) {
      if (!running.ended) stopped.push({ taskId, attempt: running.attempt });
      this.stopAttempt(taskId);
    }
    await Promise.all(this.stopping);
    return stopped;
  }

  /** Reports of attempts that ended are stored, or given up after `timeoutMs`. */
  async flushReports(timeoutMs: number): Promise<void> {
    await this.publisher.flush(timeoutMs);
  }

  /**
   * Stops as `stopAll` does, without reporting what it stopped: a worker that goes away without
   * a leave is noticed by its silence, and the scheduler requeues its tasks elsewhere.
   */
  async close(): Promise<void> {
    await this.stopAll();
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
    const { workerId, logger, nc } = this.options;
    const requests = requestsOf(task);
    const gpuDevices = this.freeGpus.splice(0, Math.min(task.gpu, this.freeGpus.length));
    const spec: RunSpec | undefined =
      task.command === undefined
        ? undefined
        : { taskId, attempt, workerId, image: task.image, command: task.command, requests, gpuDevices };
    logger.info(
      `running task ${taskId} (attempt ${attempt}${task.image ? `, image ${task.image}` : ''}): ` +
        (task.command
          ? `sh -c ${JSON.stringify(task.command)} in ${this.runtime.name === 'process' ? 'this host (process runtime)' : `its image (${this.runtime.name})`}`
          : `simulated for ${this.options.simulateMs} ms`),
    );
    this.report({ type: 'TaskStarted', taskId, at: wallNow(this.clock), workerId, attempt });
    const logs = new TaskLogShipper({ nc, workerId, taskId, attempt });
    const execution = startExecution({
      spec,
      runtime: this.runtime,
      simulateMs: this.options.simulateMs,
      clock: this.clock,
      onOutput: (chunk) => logs.append(chunk),
      onExit: (result) => this.finish(taskId, attempt, result),
    });
    this.running.set(taskId, { attempt, requests, execution, logs, gpuDevices, ended: false });
  }

  private releaseGpus(attempt: RunningAttempt): void {
    this.freeGpus.push(...attempt.gpuDevices.splice(0));
    this.freeGpus.sort((a, b) => a - b);
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
            failure: result.failure,
          };
    const current = this.running.get(taskId);
    if (current?.attempt === attempt) {
      current.ended = true;
      this.releaseGpus(current);
      // The output goes out before the report, on the same connection: a reader that sees the
      // task end has its last lines already.
      current.logs.finish(result.outcome as LogEnding);
    }
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

  /** Stops an attempt that may still run; its end is not reported. */
  private stopAttempt(taskId: string): void {
    const current = this.running.get(taskId);
    if (!current) return;
    this.running.delete(taskId);
    this.stats.stopped++;
    this.remember(`${taskId}:${current.attempt}`);
    if (current.ended) return;
    const stopped = current.execution
      .stop(this.stopGraceMs)
      .catch((error: Error) => this.options.logger.warn(`stopping task ${taskId} failed: ${error.message}`))
      .then(() => {
        this.releaseGpus(current);
        current.logs.finish('stopped');
        this.stopping.delete(stopped);
      });
    this.stopping.add(stopped);
  }

  private report(event: WorkerReport): Promise<void> {
    return this.publisher
      .publish(event.taskId, {
        subject: taskReportSubject(this.options.workerId),
        payload: encodeJson(event),
        messageId: workerReportKey(event),
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
