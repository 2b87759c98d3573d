import { type JsMsg, jetstream } from '@nats-io/jetstream';
import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
import { PositionWaiters } from '../projections/position-waiters.js';
import { addResources, NO_RESOURCES, type Resources, requestsOf } from '../projections/resources.js';
import { forEachNewEvent } from '../projections/stream-batch.js';
import { holdingOf, specOf, type TaskDocument } from '../projections/task-document.js';
import { hasLostItsTasks, isSchedulable, type WorkerDocument } from '../projections/worker-document.js';
import type { Heartbeat } from '../streams/contracts/heartbeat.js';
import {
  ID_RULE,
  isValidTaskId,
  TASK_CANCEL_SUBJECT,
  TASK_REPORTS_WILDCARD,
  TASK_SUBMIT_SUBJECT,
  TASKS_STREAM,
  taskAssignSubject,
  taskEventSubject,
  taskStopSubject,
  WORKER_EVENTS_STREAM,
} from '../streams/contracts/subjects.js';
import {
  type Assignment,
  assignmentReplySchema,
  type CancelReply,
  cancelRequestSchema,
  decodeTaskEvent,
  encodeTaskEvent,
  type PlacementOutcome,
  REQUEUE_REASONS,
  type ReportReply,
  type StopRequest,
  type SubmitReply,
  submitRequestSchema,
  type TaskEvent,
  taskEventMessageId,
  taskReportSchema,
} from '../streams/contracts/task-events.js';
import { decodeWorkerEvent, isDisruptionEvent } from '../streams/contracts/worker-events.js';
import { OrderedPublisher } from '../streams/nats/ordered-publisher.js';
import { requestJson, serveJsonRequests } from '../streams/nats/request-reply.js';
import { StreamFollower } from '../streams/nats/stream-follower.js';
import { type Clock, MONOTONIC_CLOCK, wallNow } from '../streams/util/clock.js';
import { decodeJson, encodeJson } from '../streams/util/json-codec.js';
import { type Logger, RateLimitedLog } from '../streams/util/logger.js';
import { type ClusterSnapshot, ClusterState, type DisruptionChange } from './cluster-state.js';
import { Exclusions } from './exclusions.js';
import { type DecisionKind, PendingDecisions } from './pending-decisions.js';
import { emptyQueueMemory, type PlacementWorker, planPass } from './placement.js';
import type { PlacementPolicy, PolicyName } from './policies/policy.js';
import { validateTaskRequest } from './task-model.js';

export interface SchedulerOptions {
  nc: NatsConnection;
  logger: Logger;
  /** The read model at positions N; the scheduler follows both streams from N + 1. */
  snapshot: ClusterSnapshot;
  /** Names the scheduler's durable consumers (the read model's path: one scheduler per data dir). */
  identity: string;
  policy: PlacementPolicy;
  /** How long a worker's agent has to acknowledge an assignment. */
  assignTimeoutMs: number;
  /** How long a worker that did not acknowledge a task is not offered that task again (unless it returns). */
  retryAfterMs: number;
  /** How many younger tasks may be placed ahead of a waiting one before it reserves a worker. */
  bypassLimit: number;
  /** Longest a submit request waits for the task's first placement outcome. */
  submitWaitMs: number;
  /** Wall-clock time for the `at` of its events; the monotonic clock for how long a task has run. */
  clock?: Clock;
}

/** Heartbeats in a row that must miss a running task before it counts as lost by its worker. */
const MISSED_HEARTBEATS_BEFORE_LOST = 2;
const SUBMIT_QUEUE_GROUP = 'cloudai-scheduler';

/**
 * The scheduler service: follows WORKER_EVENTS and TASKS into its memory (from the read model's
 * positions on), places queued tasks with the policy on schedulable workers whenever something
 * changes that could let them fit, dispatches assignments to the workers' agents, and requeues
 * the work of workers that turn inactive or are removed, refuse, or lose it. Suspect, flapping
 * and cordoned workers keep their tasks. In disruption mode nothing is requeued for a silence
 * (the silence may be ours): such requeues are held and decided again when the mode ends.
 * Every decision is an event; its memory changes only when the event comes back from the
 * stream, so it always equals the log's fold.
 */
export class SchedulerService {
  readonly stats = {
    assigned: 0,
    requeued: 0,
    notAcknowledged: 0,
    /** Requeues held back by disruption mode (each attempt counted once). */
    heldInDisruption: 0,
    ignoredEvents: 0,
    invalidEvents: 0,
    rejectedRequests: 0,
  };
  /** Redelivered and undecodable messages of both streams (the invalid ones are also in `stats`). */
  private readonly counts = { duplicates: 0, invalid: 0 };
  private readonly state: ClusterState;
  private readonly pending = new PendingDecisions();
  private readonly publisher: OrderedPublisher;
  private readonly memory = emptyQueueMemory();
  private readonly exclusions: Exclusions;
  private readonly outcomeWaiters = new Map<string, (outcome: PlacementOutcome) => void>();
  /** taskId → when this process saw it running (monotonic clock), and heartbeats of its worker that missed it since. */
  private readonly runningWatch = new Map<string, { since: number; misses: number }>();
  /** taskId → the attempt whose requeue disruption mode held back; decided again when it ends. */
  private readonly held = new Map<string, { attempt: number; workerId: string }>();
  private readonly workerPositionWaiters = new PositionWaiters();
  private readonly followers: StreamFollower[] = [];
  private readonly subscriptions: Subscription[] = [];
  private readonly log: RateLimitedLog;
  private readonly clock: Clock;
  private passScheduled = false;
  private closed = false;

  private constructor(private readonly options: SchedulerOptions) {
    this.state = new ClusterState(options.snapshot);
    this.clock = options.clock ?? MONOTONIC_CLOCK;
    this.log = new RateLimitedLog(options.logger);
    this.publisher = new OrderedPublisher({ js: jetstream(options.nc), logger: options.logger });
    this.exclusions = new Exclusions(options.retryAfterMs, () => this.requestPass());
  }

  static async start(options: SchedulerOptions): Promise<SchedulerService> {
    const scheduler = new SchedulerService(options);
    try {
      await scheduler.follow(WORKER_EVENTS_STREAM, options.snapshot.workerPosition, (messages) =>
        scheduler.applyWorkerMessages(messages),
      );
      await scheduler.follow(TASKS_STREAM, options.snapshot.taskPosition, (messages) =>
        scheduler.applyTaskMessages(messages),
      );
      scheduler.serve(TASK_SUBMIT_SUBJECT, (msg) => scheduler.handleSubmit(msg));
      scheduler.serve(TASK_CANCEL_SUBJECT, (msg) => scheduler.handleCancel(msg));
      scheduler.serve(TASK_REPORTS_WILDCARD, (msg) => scheduler.handleReport(msg));
    } catch (error) {
      await scheduler.close();
      throw error;
    }
    scheduler.reconcileAfterStart();
    scheduler.requestPass();
    return scheduler;
  }

  /** The WORKER_EVENTS sequence applied so far: a new placement's `basedOnWorkerSeq`. */
  get workerPosition(): number {
    return this.state.workerPosition;
  }

  get taskPosition(): number {
    return this.state.taskPosition;
  }

  /** Resolves once the scheduler has applied WORKER_EVENTS up to `streamSeq`. */
  waitForWorkerPosition(streamSeq: number): Promise<void> {
    return this.workerPositionWaiters.wait(streamSeq, this.state.workerPosition);
  }

  /** Tasks waiting for a worker (the metrics' queue length). */
  get queueLength(): number {
    return this.state.queued().length;
  }

  /**
   * A worker's heartbeat lists what its agent runs. A task the log says runs there but two
   * heartbeats in a row leave out was lost (its agent restarted before anyone noticed): requeue
   * it. A task listed there that the log has placed elsewhere (or ended) is an orphan: stop it.
   */
  observeHeartbeat(heartbeat: Heartbeat, receivedAt: number): void {
    if (this.closed) return;
    const { workerId, runningTasks } = heartbeat;
    // Nearly every heartbeat: an idle worker the log gives no task. Nothing to compare.
    if (runningTasks.length === 0 && !this.state.holdsTasks(workerId)) return;
    for (const { taskId } of runningTasks) {
      // Nearly every listed task: placed there by the log (one lookup in the holdings index).
      if (this.state.holds(workerId, taskId) || this.pending.isPending(taskId)) continue;
      // An agent lists a task that completed or failed there until its final report is stored:
      // it has ended, there is nothing to stop.
      const status = this.state.statusOf(taskId);
      if (status !== 'completed' && status !== 'failed') this.sendStop(workerId, { taskId });
    }
    const listed = new Set(runningTasks.map((task) => task.taskId));
    for (const task of this.state.tasksOn(workerId)) {
      const watch = this.runningWatch.get(task.taskId);
      if (task.status !== 'running' || !watch || receivedAt <= watch.since) continue;
      if (listed.has(task.taskId)) {
        watch.misses = 0;
        continue;
      }
      watch.misses++;
      if (watch.misses >= MISSED_HEARTBEATS_BEFORE_LOST) {
        this.requeueUnlessDisrupted(
          task,
          `${REQUEUE_REASONS.missingFromHeartbeats}: ${workerId} no longer runs it`,
        );
      }
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const subscription of this.subscriptions) {
      if (!subscription.isClosed()) await subscription.drain();
    }
    for (const follower of this.followers) await follower.close();
    this.exclusions.clear();
    this.held.clear();
    for (const [taskId, resolve] of this.outcomeWaiters) {
      resolve({ kind: 'queued', reason: 'the scheduler is stopping; it is placed when it starts again' });
      this.outcomeWaiters.delete(taskId);
    }
    const { unpublished } = await this.publisher.close(3_000);
    if (unpublished > 0) {
      this.options.logger.warn(
        `${unpublished} scheduling events were not stored before shutdown; they are redone at start`,
      );
    }
  }

  // --- following the streams ---

  private async follow(
    stream: string,
    startAfter: number,
    apply: (messages: JsMsg[]) => void,
  ): Promise<void> {
    const follower = await StreamFollower.start({
      nc: this.options.nc,
      stream,
      identity: `scheduler:${this.options.identity}`,
      startAfter,
      logger: this.options.logger,
      applyBatch: async (messages) => apply(messages),
    });
    this.followers.push(follower);
  }

  private applyWorkerMessages(messages: JsMsg[]): void {
    let changed = false;
    let disruptionEnded = false;
    this.state.workerPosition = forEachNewEvent(
      messages,
      this.state.workerPosition,
      decodeWorkerEvent,
      this.counts,
      (streamSeq, detail) => this.reportInvalid(WORKER_EVENTS_STREAM, streamSeq, detail),
      (event, streamSeq) => {
        this.state.workerPosition = streamSeq;
        if (isDisruptionEvent(event)) {
          const change = this.state.applyDisruptionEvent(event);
          if (change) disruptionEnded = this.noteDisruptionChange(change) || disruptionEnded;
          return;
        }
        const change = this.state.applyWorkerEvent(event);
        if (!change) return;
        changed = true;
        const { after } = change;
        if (event.type === 'WorkerDrained' && event.endedBy === 'deadline') {
          // The drain's deadline came: what still runs there is stopped and placed elsewhere.
          for (const task of this.state.tasksOn(after.workerId)) {
            this.sendStop(after.workerId, { taskId: task.taskId, attempt: task.attempt });
            this.requeue(task, REQUEUE_REASONS.drainDeadline);
          }
        }
        if (hasLostItsTasks(after)) {
          // Inactive, left or removed: whatever it still holds runs nowhere we know of. (Suspect,
          // flapping and cordoned workers keep their tasks.)
          for (const task of this.state.tasksOn(after.workerId)) this.requeueLost(task, after);
        } else if (isSchedulable(after)) {
          // Registered, back, recovered, stabilized, uncordoned or resized: whatever it refused
          // before may work now.
          this.exclusions.liftWorker(after.workerId);
        }
      },
    );
    // Decided once the whole batch is applied, so that the workers the mode held (and that turn
    // inactive right after it ends) are seen as they are now.
    if (disruptionEnded && !this.state.disruption.active) this.reconcileHeld();
    if (changed) this.requestPass();
    this.workerPositionWaiters.reached(this.state.workerPosition);
  }

  /** Logs a start or end of disruption mode (the fleet logs the why); true when it ended. */
  private noteDisruptionChange({ before, after }: DisruptionChange): boolean {
    if (after.active && !before.active) {
      this.options.logger.info(
        `disruption mode (${after.unhealthyWorkers} of ${after.consideredWorkers} workers unhealthy): ` +
          'no task is requeued until it ends; new tasks are still placed on schedulable workers',
      );
      return false;
    }
    if (!after.active && before.active) {
      this.options.logger.info(
        `disruption mode ended (by ${after.endedBy ?? 'unknown'}): deciding again on ${this.held.size} held requeues`,
      );
      return true;
    }
    return false;
  }

  private applyTaskMessages(messages: JsMsg[]): void {
    let retryQueue = false;
    this.state.taskPosition = forEachNewEvent(
      messages,
      this.state.taskPosition,
      decodeTaskEvent,
      this.counts,
      (streamSeq, detail) => this.reportInvalid(TASKS_STREAM, streamSeq, detail),
      (event, streamSeq) => {
        this.state.taskPosition = streamSeq;
        const change = this.state.applyTaskEvent(event);
        if (!change.applied) {
          this.stats.ignoredEvents++;
          this.log.warn(
            `ignored-${event.type}`,
            `ignored ${event.type} of task ${event.taskId}${'workerId' in event ? ` from ${event.workerId}` : ''}: ${change.why}`,
          );
          return;
        }
        const { before, after } = change;
        const held = holdingOf(before);
        if (held && holdingOf(after)?.workerId !== held.workerId) retryQueue = true;
        if (after.status === 'queued') retryQueue = true;
        if (after.status === 'running')
          this.runningWatch.set(after.taskId, { since: this.clock.now(), misses: 0 });
        else this.runningWatch.delete(after.taskId);
        if (after.status !== 'queued') this.exclusions.liftTask(after.taskId);
        if (event.type === 'TaskCancelled' && held) {
          this.sendStop(held.workerId, { taskId: event.taskId, attempt: after.attempt });
        }
        if (after.status === 'cancelled')
          this.resolveOutcome(after.taskId, { kind: 'queued', reason: 'it was cancelled' });
      },
    );
    for (const decision of this.pending.applied(this.state.taskPosition)) {
      decision.onApplied?.();
      retryQueue = true;
    }
    if (retryQueue) this.requestPass();
  }

  /** An undecodable event is counted and logged; it still moves the position. */
  private reportInvalid(stream: string, streamSeq: number, detail: string): void {
    this.stats.invalidEvents++;
    this.log.warn(`invalid-${stream}`, `skipped invalid event at ${stream} seq ${streamSeq}: ${detail}`);
  }

  // --- placing ---

  /** Coalesces every trigger of one event-loop turn into one pass over the queue. */
  private requestPass(): void {
    if (this.passScheduled || this.closed) return;
    this.passScheduled = true;
    setImmediate(() => {
      this.passScheduled = false;
      if (!this.closed) this.runPass();
    });
  }

  private runPass(): void {
    const queue = this.state.queued().filter((task) => !this.pending.isPending(task.taskId));
    if (queue.length === 0) return;
    const reserved = this.pending.reservedByWorker();
    const workers: PlacementWorker[] = [...this.state.workers.values()].map((worker) => ({
      workerId: worker.workerId,
      status: worker.status,
      flapping: worker.flapping,
      cordoned: worker.cordoned,
      drain: worker.drain ?? null,
      capacity: worker.capacity,
      allocated: addResources(
        this.state.allocatedOn(worker.workerId),
        reserved.get(worker.workerId) ?? NO_RESOURCES,
      ),
    }));
    const decisions = planPass({
      queue,
      workers,
      isExcluded: (taskId, workerId) => this.exclusions.has(taskId, workerId),
      policy: this.options.policy,
      now: this.now(),
      bypassLimit: this.options.bypassLimit,
      memory: this.memory,
    });
    for (const decision of decisions) {
      if (decision.kind === 'wait')
        this.resolveOutcome(decision.task.taskId, { kind: 'queued', reason: decision.reason });
      else this.assign(decision.task, decision.workerId, decision.policy);
    }
  }

  private assign(task: TaskDocument, workerId: string, policy: PolicyName): void {
    this.stats.assigned++;
    const { taskId, attempt } = task;
    this.decide(
      {
        type: 'TaskAssigned',
        taskId,
        at: this.now(),
        workerId,
        attempt,
        basedOnWorkerSeq: this.state.workerPosition,
        policy,
      },
      'assign',
      { workerId, requests: requestsOf(task) },
      () => void this.dispatch(taskId, attempt, workerId),
    );
  }

  /**
   * Offers an applied assignment to the worker's agent. No acknowledgement in time (or a
   * refusal) gives the attempt up: the task is requeued and not offered to that worker again
   * for a while, so it goes elsewhere.
   */
  private async dispatch(taskId: string, attempt: number, workerId: string): Promise<void> {
    const task = this.state.task(taskId);
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
      this.resolveOutcome(taskId, { kind: 'assigned', workerId });
      return;
    }
    const failure = reply.ok
      ? `${REQUEUE_REASONS.refusedByWorker}: ${reply.value.reason ?? 'no reason given'}`
      : `${REQUEUE_REASONS.notAcknowledged}: ${reply.failure === 'no-responders' ? 'no agent listens for it' : reply.detail}`;
    if (this.closed) return;
    const current = this.attemptOn(taskId, attempt, workerId);
    if (!reply.ok && this.state.disruption.active) {
      // No answer may be the very partition that caused the disruption: the agent may run it.
      // A refusal is an answer, and is acted on even now.
      if (current) this.hold(current, failure);
      return;
    }
    this.stats.notAcknowledged++;
    this.log.warn(
      `dispatch-${workerId}`,
      `worker ${workerId} did not take task ${taskId} (${failure}); placing it elsewhere`,
    );
    this.exclusions.add(taskId, workerId);
    // It may have started after all (a reply lost on the way): make sure it stops.
    this.sendStop(workerId, { taskId, attempt });
    if (current) this.requeue(current, failure);
  }

  /** The task, if `attempt` is still its attempt and still assigned to or running on `workerId`. */
  private attemptOn(taskId: string, attempt: number, workerId: string): TaskDocument | undefined {
    const task = this.state.task(taskId);
    return task?.attempt === attempt && this.state.holds(workerId, taskId) ? task : undefined;
  }

  /**
   * A requeue for a silence (a lost worker, an unanswered offer, a task missing from
   * heartbeats): held while disruption mode lasts, when the silence may be the control plane's
   * own, and decided again when the mode ends.
   */
  private requeueUnlessDisrupted(task: TaskDocument, reason: string): void {
    if (this.state.disruption.active) this.hold(task, reason);
    else this.requeue(task, reason);
  }

  /**
   * A worker that left said so itself: its tasks go elsewhere at once, disruption mode or not.
   * An inactive or removed one fell silent: that may be the control plane's own blindness.
   */
  private requeueLost(task: TaskDocument, worker: WorkerDocument): void {
    if (worker.status === 'left') this.requeue(task, REQUEUE_REASONS.workerLeft);
    else this.requeueUnlessDisrupted(task, lostReasonOf(worker));
  }

  private hold(task: TaskDocument, reason: string): void {
    if (task.workerId === null) return;
    const held = this.held.get(task.taskId);
    if (held?.attempt === task.attempt && held.workerId === task.workerId) return;
    this.held.set(task.taskId, { attempt: task.attempt, workerId: task.workerId });
    this.stats.heldInDisruption++;
    this.log.warn(
      'held-in-disruption',
      `disruption mode: task ${task.taskId} stays on ${task.workerId} (${reason}); decided again when the mode ends`,
    );
  }

  /**
   * Disruption mode ended: each held attempt still where it was is judged as at a restart,
   * against the workers' state now (requeued if its worker is inactive or removed, offered
   * again if unacknowledged, watched afresh if running).
   */
  private reconcileHeld(): void {
    const held = [...this.held];
    this.held.clear();
    for (const [taskId, { attempt, workerId }] of held) {
      const task = this.attemptOn(taskId, attempt, workerId);
      if (task) this.reconcile(task);
    }
  }

  private requeue(task: TaskDocument, reason: string): void {
    if (task.workerId === null || this.pending.isPendingKind(task.taskId, 'requeue')) return;
    this.stats.requeued++;
    this.runningWatch.delete(task.taskId);
    this.options.logger.info(
      `requeueing task ${task.taskId} (attempt ${task.attempt} on ${task.workerId}): ${reason}`,
    );
    this.decide(
      {
        type: 'TaskRequeued',
        taskId: task.taskId,
        at: this.now(),
        workerId: task.workerId,
        attempt: task.attempt,
        reason,
      },
      'requeue',
    );
  }

  /** Publishes a decision; the task stays pending until the stream has it applied. */
  private decide(
    event: TaskEvent,
    kind: DecisionKind,
    reservation: { workerId?: string; requests?: Resources } = {},
    onApplied?: () => void,
  ): Promise<boolean> {
    const messageId = taskEventMessageId(event);
    this.pending.add({ messageId, taskId: event.taskId, kind, ...reservation, onApplied });
    return this.publisher
      .publish(event.taskId, {
        subject: taskEventSubject(event.taskId),
        payload: encodeTaskEvent(event),
        messageId,
      })
      .then((streamSeq) => {
        const settled = this.pending.stored(messageId, streamSeq, this.state.taskPosition);
        if (settled) {
          settled.onApplied?.();
          this.requestPass();
        }
        return true;
      })
      .catch((error: Error) => {
        this.pending.remove(messageId);
        if (!this.closed)
          this.options.logger.warn(`${event.type} of task ${event.taskId} not stored: ${error.message}`);
        return false;
      });
  }

  private reconcileAfterStart(): void {
    for (const task of this.state.placedTasks()) this.reconcile(task);
  }

  /**
   * Judges a placed task against its worker's state now. A suspect, flapping or cordoned
   * worker keeps it; an inactive or removed one has lost it.
   */
  private reconcile(task: TaskDocument): void {
    const worker = task.workerId === null ? undefined : this.state.workers.get(task.workerId);
    if (!worker) {
      this.requeueUnlessDisrupted(task, REQUEUE_REASONS.workerInactive);
    } else if (hasLostItsTasks(worker)) {
      this.requeueLost(task, worker);
    } else if (task.status === 'assigned' && task.workerId !== null) {
      // The previous scheduler may have stopped between recording and offering it, or the
      // offer went unanswered during a disruption; agents acknowledge a repeated offer of the
      // same attempt without running it twice.
      void this.dispatch(task.taskId, task.attempt, task.workerId);
    } else {
      this.runningWatch.set(task.taskId, { since: this.clock.now(), misses: 0 });
    }
  }

  private sendStop(workerId: string, request: StopRequest): void {
    if (this.options.nc.isClosed()) return;
    this.options.nc.publish(taskStopSubject(workerId), encodeJson(request));
  }

  // --- the front door: submit and cancel ---

  private serve(subject: string, handle: (msg: Msg) => Promise<unknown>): void {
    this.subscriptions.push(
      serveJsonRequests<unknown>(this.options.nc, subject, {
        queue: SUBMIT_QUEUE_GROUP,
        logger: this.options.logger,
        handle,
        onFailure: (error) => ({ ok: false, error: `the scheduler failed: ${error.message}` }),
      }),
    );
  }

  private async handleSubmit(msg: Msg): Promise<SubmitReply> {
    const decoded = decodeJson(msg.data, submitRequestSchema);
    if (!decoded.ok) return this.reject(`malformed submit request: ${decoded.detail}`);
    const { taskId, task: request } = decoded.value;
    if (!isValidTaskId(taskId)) {
      return this.reject(`task id ${JSON.stringify(taskId)} is invalid: use ${ID_RULE}`);
    }
    if (this.state.statusOf(taskId) !== undefined || this.pending.isPending(taskId)) {
      return this.reject(`task ${taskId} already exists: submit it again to get a new id`);
    }
    const validation = validateTaskRequest(request, this.now());
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
    const stored = await this.decide(
      { type: 'TaskSubmitted', taskId, at: this.now(), task: validation.task },
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
   * Whether it still counts (the current attempt, on its assigned worker) is the fold's call.
   */
  private async handleReport(msg: Msg): Promise<ReportReply> {
    const decoded = decodeJson(msg.data, taskReportSchema);
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
    await this.publisher.publish(report.taskId, {
      subject: taskEventSubject(report.taskId),
      payload: encodeTaskEvent(report),
      messageId: taskEventMessageId(report),
    });
    return { stored: true };
  }

  private async handleCancel(msg: Msg): Promise<CancelReply> {
    const decoded = decodeJson(msg.data, cancelRequestSchema);
    if (!decoded.ok) return this.reject(`malformed cancel request: ${decoded.detail}`);
    const { taskId } = decoded.value;
    const status = this.state.statusOf(taskId);
    if (status === undefined) return this.reject(`no task ${taskId}: list the tasks with \`cloudai tasks\``);
    if (status === 'completed' || status === 'failed' || status === 'cancelled') {
      return this.reject(`task ${taskId} is already ${status}: there is nothing to cancel`);
    }
    if (this.pending.isPendingKind(taskId, 'cancel')) return { ok: true, taskId, previousStatus: status };
    const stored = await this.decide(
      { type: 'TaskCancelled', taskId, at: this.now(), reason: 'cancelled by user' },
      'cancel',
    );
    if (!stored)
      return this.reject('the cancellation could not be stored: the scheduler is stopping; try again');
    return { ok: true, taskId, previousStatus: status };
  }

  /** Wall-clock time: for the `at` of events and the age of queued tasks, never for a timeout. */
  private now(): number {
    return wallNow(this.clock);
  }

  private reject(error: string): { ok: false; error: string } {
    this.stats.rejectedRequests++;
    return { ok: false, error };
  }

  private resolveOutcome(taskId: string, outcome: PlacementOutcome): void {
    const resolve = this.outcomeWaiters.get(taskId);
    if (!resolve) return;
    this.outcomeWaiters.delete(taskId);
    resolve(outcome);
  }
}

/** Why the tasks of a worker that has lost them are requeued. */
function lostReasonOf(worker: WorkerDocument): string {
  return worker.status === 'removed' ? REQUEUE_REASONS.workerRemoved : REQUEUE_REASONS.workerInactive;
}
