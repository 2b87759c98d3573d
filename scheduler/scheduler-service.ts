import type { JsMsg } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { PositionWaiters } from '../projections/position-waiters.js';
import { requestsOf } from '../projections/resources.js';
import { forEachNewEvent, invalidEventMessage } from '../projections/stream-batch.js';
import { holdingOf, type TaskDocument } from '../projections/task-document.js';
import { isSchedulable } from '../projections/worker-document.js';
import type { AppliedWorkerBatch } from '../projections/worker-projector.js';
import { DecisionFence } from '../projections/writer-fence.js';
import type { Heartbeat } from '../streams/contracts/heartbeat.js';
import { TASKS_STREAM, taskStopSubject } from '../streams/contracts/subjects.js';
import {
  type CancelReply,
  decodeTaskStreamEntry,
  REQUEUE_REASONS,
  type ReportReply,
  type StopRequest,
  type TaskLost,
} from '../streams/contracts/task-events.js';
import { isDisruptionEvent } from '../streams/contracts/worker-events.js';
import { StreamFollower } from '../streams/nats/stream-follower.js';
import { type Clock, MONOTONIC_CLOCK, wallNow } from '../streams/util/clock.js';
import { encodeJson } from '../streams/util/json-codec.js';
import { type Logger, RateLimitedLog } from '../streams/util/logger.js';
import { AssignmentOffers } from './assignment-offers.js';
import { type ClusterSnapshot, ClusterState } from './cluster-state.js';
import { DecisionPublisher, type DecisionPublisherOptions } from './decision-publisher.js';
import { DisruptionHolds } from './disruption-holds.js';
import { Exclusions } from './exclusions.js';
import { hostTaskRule } from './host-tasks.js';
import { LostTaskWatch } from './lost-task-watch.js';
import { emptyQueueMemory, planPass } from './placement.js';
import { PlacementView } from './placement-view.js';
import type { PlacementPolicy, PolicyName } from './policies/policy.js';
import { TaskRequests } from './task-requests.js';

/**
 * WORKER_EVENTS as this process's read model applies them (the worker projector): the scheduler
 * folds the same events, after the same fence, without decoding the stream a second time.
 */
export interface WorkerEventFeed {
  /** Calls `listener` with each batch once it is committed; returns the unsubscribe. */
  onApplied(listener: (batch: AppliedWorkerBatch) => void): () => void;
}

export interface SchedulerOptions {
  nc: NatsConnection;
  /** Must be subscribed to in the same tick as `snapshot` is read, so no batch falls between. */
  workerEvents: WorkerEventFeed;
  /** With several control planes: the scheduler lease's epoch, undefined once lost (see DecisionPublisher). */
  leaseEpoch?: () => number | undefined;
  logger: Logger;
  /** The read model at positions N; the scheduler applies both streams from N + 1. */
  snapshot: ClusterSnapshot;
  /** Names the scheduler's durable consumer of TASKS (the read model's path: one scheduler per data dir). */
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
  /** Called after each scheduling event is acknowledged by JetStream (benchmarks time placements with it). */
  onTaskEventStored?: DecisionPublisherOptions['onStored'];
  /** Place tasks with a command on workers whose runtime is `process` (their host) too. */
  allowHostTasks?: boolean;
  /** Wall-clock time for the `at` of its events; the monotonic clock for how long a task has run. */
  clock?: Clock;
}

/** Counters of the scheduler's decisions and refusals (read by the metrics and the tests). */
export interface SchedulerStats {
  assigned: number;
  notAcknowledged: number;
  /** Requeues held back by disruption mode (each attempt counted once). */
  heldInDisruption: number;
  ignoredEvents: number;
  invalidEvents: number;
  rejectedRequests: number;
}

/**
 * The scheduler: folds WORKER_EVENTS (as the read model applies them) and TASKS into its memory,
 * places queued tasks whenever something changes that could let them fit, and offers the
 * assignments to the workers' agents.
 * Its parts: the request API (`TaskRequests`), the offers to agents (`AssignmentOffers`), the
 * lost-task watch (`LostTaskWatch`), the holds of disruption mode (`DisruptionHolds`) and the
 * only writer of TASKS (`DecisionPublisher`).
 * A decision changes its view of the cluster (`ClusterState`) only once the stream has it applied.
 */
export class SchedulerService {
  private assigned = 0;
  private ignoredEvents = 0;
  private invalidEvents = 0;
  private readonly state: ClusterState;
  /** Skips late decisions of a previous scheduler, as the read model does. */
  private readonly decisionFence: DecisionFence;
  private readonly decisions: DecisionPublisher;
  private readonly requests: TaskRequests;
  private readonly holds: DisruptionHolds;
  private readonly lostTasks: LostTaskWatch;
  private readonly offers: AssignmentOffers;
  /** Why each queued task waits, as the last placement pass said. */
  private readonly waitReasons = new Map<string, string>();
  private readonly exclusions: Exclusions;
  private readonly memory = emptyQueueMemory();
  /** The workers as placement sees them, kept between passes and told only of changes. */
  private readonly placementView: PlacementView;
  private readonly workerPositionWaiters = new PositionWaiters();
  private taskFollower: StreamFollower | undefined;
  private readonly stopFeed: () => void;
  private readonly log: RateLimitedLog;
  private readonly now: () => number;
  private passScheduled = false;
  private closed = false;

  private constructor(private readonly options: SchedulerOptions) {
    const { nc, logger } = options;
    const clock = options.clock ?? MONOTONIC_CLOCK;
    const now = () => wallNow(clock);
    this.now = now;
    this.state = new ClusterState(options.snapshot);
    this.decisionFence = new DecisionFence(options.snapshot.schedulerEpoch);
    this.log = new RateLimitedLog(logger);
    this.decisions = new DecisionPublisher({
      nc,
      logger,
      appliedPosition: () => this.state.taskPosition,
      onSettled: () => this.requestPass(),
      isStopping: () => this.closed,
      onStored: options.onTaskEventStored,
      leaseEpoch: options.leaseEpoch,
    });
    this.requests = new TaskRequests({
      nc,
      logger,
      state: this.state,
      decisions: this.decisions,
      submitWaitMs: options.submitWaitMs,
      now,
      onLost: (report) => this.requeueLost(report),
    });
    this.placementView = new PlacementView({
      state: this.state,
      pending: this.decisions.pending,
      clock,
      continueLater: setImmediate,
    });
    this.holds = new DisruptionHolds(logger);
    this.exclusions = new Exclusions(options.retryAfterMs, () => this.requestPass());
    this.offers = new AssignmentOffers({
      nc,
      logger,
      state: this.state,
      holds: this.holds,
      exclusions: this.exclusions,
      assignTimeoutMs: options.assignTimeoutMs,
      resolveOutcome: (taskId, outcome) => this.requests.resolveOutcome(taskId, outcome),
      publishRequeue: (task, reason) => this.publishRequeue(task, reason),
      sendStop: (workerId, request) => this.sendStop(workerId, request),
      isStopping: () => this.closed,
    });
    this.lostTasks = new LostTaskWatch({
      state: this.state,
      holds: this.holds,
      isPending: (taskId) => this.decisions.pending.isPending(taskId),
      publishRequeue: (task, reason) => this.publishRequeue(task, reason),
      sendOffer: (taskId, attempt, workerId) => void this.offers.sendOffer(taskId, attempt, workerId),
      sendStop: (workerId, request) => this.sendStop(workerId, request),
      // Compared with heartbeats' receive times, which are monotonic.
      now: () => clock.now(),
    });
    this.stopFeed = options.workerEvents.onApplied((batch) => {
      if (!this.closed) this.applyWorkerBatch(batch);
    });
  }

  static async start(options: SchedulerOptions): Promise<SchedulerService> {
    const scheduler = new SchedulerService(options);
    try {
      scheduler.taskFollower = await StreamFollower.start({
        nc: options.nc,
        stream: TASKS_STREAM,
        identity: `scheduler:${options.identity}`,
        startAfter: options.snapshot.taskPosition,
        logger: options.logger,
        applyBatch: async (messages) => scheduler.applyTaskMessages(messages),
      });
      scheduler.requests.serve();
    } catch (error) {
      await scheduler.close();
      throw error;
    }
    for (const task of scheduler.state.placedTasks()) scheduler.lostTasks.reconcile(task);
    // The snapshot's workers are all new to placement.
    scheduler.placementView.workersChanged();
    scheduler.requestPass();
    return scheduler;
  }

  get stats(): SchedulerStats {
    return {
      assigned: this.assigned,
      notAcknowledged: this.offers.notAcknowledged,
      heldInDisruption: this.holds.heldCount,
      ignoredEvents: this.ignoredEvents,
      invalidEvents: this.invalidEvents,
      rejectedRequests: this.requests.rejected,
    };
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
    return this.state.queuedCount;
  }

  /** Compares what a worker's agent says it runs with what the log placed there. */
  observeHeartbeat(heartbeat: Heartbeat, receivedAt: number): void {
    if (!this.closed) this.lostTasks.observeHeartbeat(heartbeat, receivedAt);
  }

  /** Why a queued task waits, as the last placement pass said; undefined before a pass has looked at it. */
  waitReasonOf(taskId: string): string | undefined {
    return this.waitReasons.get(taskId);
  }

  /** Cancels a task that has not finished, as `cloudai task cancel` does (the web dashboard's cancel). */
  cancel(taskId: string): Promise<CancelReply> {
    return this.requests.cancel(taskId);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.stopFeed();
    this.placementView.close();
    await this.requests.stopServing();
    await this.taskFollower?.close();
    this.exclusions.clear();
    this.holds.release();
    this.requests.releaseWaiting();
    await this.decisions.close();
  }

  // --- following the streams ---

  private applyWorkerBatch(batch: AppliedWorkerBatch): void {
    let changed = false;
    let disruptionEnded = false;
    for (const { streamSeq, entry: event } of batch.entries) {
      // A batch committed before the snapshot was read, told after it: the snapshot has it.
      if (streamSeq <= this.state.workerPosition) continue;
      this.state.workerPosition = streamSeq;
      if (event.type === 'PartitionTaken') {
        disruptionEnded = this.holds.noteChange(this.state.applyPartitionTaken(event)) || disruptionEnded;
        continue;
      }
      if (isDisruptionEvent(event)) {
        const change = this.state.applyDisruptionEvent(event);
        if (change) disruptionEnded = this.holds.noteChange(change) || disruptionEnded;
        continue;
      }
      const change = this.state.applyWorkerEvent(event);
      if (!change) continue;
      changed = true;
      const { after } = change;
      if (event.type === 'WorkerDrained' && event.endedBy === 'deadline')
        this.stopDrainedTasks(after.workerId);
      this.lostTasks.workerChanged(after);
      // Back, recovered, uncordoned or resized: whatever it refused before may work now.
      if (isSchedulable(after)) this.exclusions.liftWorker(after.workerId);
    }
    // Fenced and invalid events move the position too.
    this.state.workerPosition = Math.max(this.state.workerPosition, batch.position);
    // Decided once the whole batch is applied, so that the workers the mode held (and that turn
    // inactive right after it ends) are seen as they are now.
    if (disruptionEnded && !this.state.disruption.active) this.judgeHeldAgain();
    if (changed) {
      this.placementView.workersChanged();
      this.requestPass();
    }
    this.workerPositionWaiters.reached(this.state.workerPosition);
  }

  private applyTaskMessages(messages: JsMsg[]): void {
    let retryQueue = false;
    this.state.taskPosition = forEachNewEvent(messages, this.state.taskPosition, decodeTaskStreamEntry, {
      onInvalid: (streamSeq, detail) => this.reportInvalid(TASKS_STREAM, streamSeq, detail),
      apply: (event, streamSeq) => {
        this.state.taskPosition = streamSeq;
        if (event.type === 'SchedulerTaken') {
          this.decisionFence.take(event);
          return;
        }
        if (!this.decisionFence.admits(event)) {
          this.ignoredEvents++;
          this.log.warn(
            'fenced-decision',
            `ignored ${event.type} of task ${event.taskId}: written by a previous scheduler (epoch ${event.epoch})`,
          );
          return;
        }
        const change = this.state.applyTaskEvent(event);
        if (!change.applied) {
          this.ignoredEvents++;
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
        this.lostTasks.taskChanged(after);
        if (after.status !== 'queued') {
          this.exclusions.liftTask(after.taskId);
          this.waitReasons.delete(after.taskId);
        }
        if (event.type === 'TaskCancelled' && held) {
          this.sendStop(held.workerId, { taskId: event.taskId, attempt: after.attempt });
        }
        if (after.status === 'cancelled')
          this.requests.resolveOutcome(after.taskId, { kind: 'queued', reason: 'it was cancelled' });
      },
    });
    if (this.decisions.settleApplied(this.state.taskPosition)) retryQueue = true;
    if (retryQueue) this.requestPass();
  }

  /** An undecodable event is counted and logged; it still moves the position. */
  private reportInvalid(stream: string, streamSeq: number, detail: string): void {
    this.invalidEvents++;
    this.log.warn(`invalid-${stream}`, invalidEventMessage(stream, streamSeq, detail));
  }

  /** Disruption mode ended: each held attempt still where it was is judged as at a restart. */
  private judgeHeldAgain(): void {
    for (const { taskId, attempt, workerId } of this.holds.release()) {
      const task = this.state.attemptOn(taskId, attempt, workerId);
      if (task) this.lostTasks.reconcile(task);
    }
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
    const { pending } = this.decisions;
    const queue = this.state.queued().filter((task) => !pending.isPending(task.taskId));
    if (queue.length === 0) return;
    const view = this.placementView;
    view.update();
    const hostTasks = hostTaskRule({
      queue,
      hostWorkers: view.hostWorkers,
      containerWorkers: view.containerWorkers,
      schedulableCount: view.workers.schedulableCount,
      allowHostTasks: this.options.allowHostTasks ?? false,
      excludedWorkers: (taskId) => this.exclusions.workersExcludedFor(taskId),
    });
    const decisions = planPass({
      queue,
      workers: view.workers,
      excludedWorkers: hostTasks.excludedWorkers,
      policy: this.options.policy,
      now: this.now(),
      bypassLimit: this.options.bypassLimit,
      memory: this.memory,
    });
    for (const decision of decisions) {
      if (decision.kind === 'wait') {
        const reason = hostTasks.explain(decision.task, decision.reason);
        this.waitReasons.set(decision.task.taskId, reason);
        this.requests.resolveOutcome(decision.task.taskId, { kind: 'queued', reason });
      } else this.publishAssignment(decision.task, decision.workerId, decision.policy);
    }
  }

  /** Publishes TaskAssigned; once the stream has it applied, the agent is offered the task. */
  private publishAssignment(task: TaskDocument, workerId: string, policy: PolicyName): void {
    this.assigned++;
    const { taskId, attempt } = task;
    void this.decisions.publishDecision(
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
      () => void this.offers.sendOffer(taskId, attempt, workerId),
    );
  }

  /** A restarted worker found an attempt it had been running left behind, and removed it: place it again. */
  private requeueLost(report: TaskLost): ReportReply {
    const task = this.state.attemptOn(report.taskId, report.attempt, report.workerId);
    if (!task) {
      return { stored: false, reason: `attempt ${report.attempt} of ${report.taskId} no longer runs there` };
    }
    this.publishRequeue(task, `${REQUEUE_REASONS.lostByWorker}: ${report.reason}`);
    return { stored: true };
  }

  private publishRequeue(task: TaskDocument, reason: string): void {
    if (task.workerId === null || this.decisions.pending.isPendingKind(task.taskId, 'requeue')) return;
    this.lostTasks.forget(task.taskId);
    this.options.logger.info(
      `requeueing task ${task.taskId} (attempt ${task.attempt} on ${task.workerId}): ${reason}`,
    );
    void this.decisions.publishDecision(
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

  /** A drain's deadline came: what still runs on the worker is stopped and placed elsewhere. */
  private stopDrainedTasks(workerId: string): void {
    for (const task of this.state.tasksOn(workerId)) {
      this.sendStop(workerId, { taskId: task.taskId, attempt: task.attempt });
      this.publishRequeue(task, REQUEUE_REASONS.drainDeadline);
    }
  }

  private sendStop(workerId: string, request: StopRequest): void {
    if (this.options.nc.isClosed()) return;
    this.options.nc.publish(taskStopSubject(workerId), encodeJson(request));
  }
}
