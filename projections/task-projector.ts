import type { JsMsg } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { TASKS_STREAM } from '../streams/contracts/subjects.js';
import { decodeTaskEvent } from '../streams/contracts/task-events.js';
import { StreamFollower } from '../streams/nats/stream-follower.js';
import { type Logger, RateLimitedLog } from '../streams/util/logger.js';
import { PositionWaiters } from './position-waiters.js';
import type { ReadModel } from './read-model.js';
import { forEachNewEvent, type StreamMessage } from './stream-batch.js';
import { evolveTask, holdingOf, type TaskDocument } from './task-document.js';

export interface TaskProjectorOptions {
  nc: NatsConnection;
  readModel: ReadModel;
  logger: Logger;
  /** Called after each batch with the workers whose held tasks it changed (the drains follow them). */
  onHoldingsChanged?: (workerIds: ReadonlySet<string>) => void;
}

/**
 * Applies TASKS to the read model: the task documents, the index of what each worker holds,
 * and the `allocated` of the workers' documents, with `position/TASKS` in the same
 * transaction (so, like the worker projection, each event is applied exactly once).
 */
export class TaskProjector {
  private readonly positionWaiters = new PositionWaiters();
  private readonly log: RateLimitedLog;
  readonly stats = { applied: 0, duplicates: 0, invalid: 0, ignored: 0 };

  private constructor(
    private readonly options: TaskProjectorOptions,
    private follower?: StreamFollower,
  ) {
    this.log = new RateLimitedLog(options.logger);
  }

  static async start(options: TaskProjectorOptions): Promise<TaskProjector> {
    const projector = new TaskProjector(options);
    projector.follower = await StreamFollower.start({
      nc: options.nc,
      stream: TASKS_STREAM,
      identity: options.readModel.path,
      startAfter: options.readModel.position(TASKS_STREAM),
      logger: options.logger,
      applyBatch: (messages) => projector.applyBatch(messages),
    });
    return projector;
  }

  get position(): number {
    return this.options.readModel.position(TASKS_STREAM);
  }

  /** Resolves once the read model has applied TASKS up to `streamSeq`. */
  waitForPosition(streamSeq: number): Promise<void> {
    return this.positionWaiters.wait(streamSeq, this.position);
  }

  async close(): Promise<void> {
    await this.follower?.close();
  }

  private async applyBatch(messages: JsMsg[]): Promise<void> {
    const result = await applyTaskEventBatch(this.options.readModel, messages, {
      onInvalid: (streamSeq, detail) =>
        this.log.warn('invalid', `skipped invalid event at ${TASKS_STREAM} seq ${streamSeq}: ${detail}`),
    });
    this.stats.applied += result.applied;
    this.stats.duplicates += result.duplicates;
    this.stats.invalid += result.invalid;
    this.stats.ignored += result.ignored;
    this.positionWaiters.reached(this.position);
    if (result.workersChanged.size > 0) this.options.onHoldingsChanged?.(result.workersChanged);
  }
}

export interface TaskBatchResult {
  applied: number;
  duplicates: number;
  invalid: number;
  /** Valid events the task's state did not accept (late reports of an older attempt, races lost). */
  ignored: number;
  /** Workers whose held tasks the batch changed. */
  workersChanged: ReadonlySet<string>;
}

/**
 * Folds a batch of TASKS messages into the read model in one transaction, with the new
 * stream position. Messages at or below the stored position are skipped (redelivery after a
 * crash). Shared by the live projector and `cloudai rebuild`.
 */
export function applyTaskEventBatch(
  readModel: ReadModel,
  messages: readonly StreamMessage[],
  options: {
    onInvalid?: (streamSeq: number, detail: string) => void;
  } = {},
): Promise<TaskBatchResult> {
  return readModel.write(() => {
    const workersToRefresh = new Set<string>();
    const result: TaskBatchResult = {
      applied: 0,
      duplicates: 0,
      invalid: 0,
      ignored: 0,
      workersChanged: workersToRefresh,
    };
    const touched = new Map<string, TaskDocument>();
    const position = forEachNewEvent(
      messages,
      readModel.position(TASKS_STREAM),
      decodeTaskEvent,
      result,
      options.onInvalid,
      (event) => {
        const before = touched.get(event.taskId) ?? readModel.getTask(event.taskId);
        const after = evolveTask(before, event);
        if (after === before || !after) {
          // Counted here; the scheduler, which folds the same events, logs why.
          result.ignored++;
          return;
        }
        touched.set(event.taskId, after);
        result.applied++;
        const held = holdingOf(before);
        const holds = holdingOf(after);
        if (held?.workerId === holds?.workerId) return;
        if (held) {
          readModel.releaseTask(held.workerId, event.taskId);
          workersToRefresh.add(held.workerId);
        }
        if (holds) {
          readModel.holdTask(holds.workerId, event.taskId, holds.requests);
          workersToRefresh.add(holds.workerId);
        }
      },
    );
    for (const document of touched.values()) readModel.putTask(document);
    // A worker not projected yet gets its allocation when its first event is (see the worker projection).
    for (const workerId of workersToRefresh) {
      const worker = readModel.getWorker(workerId, { uptime: false });
      if (worker) readModel.putWorker({ ...worker, ...readModel.allocationOf(workerId) });
    }
    readModel.setPosition(TASKS_STREAM, position);
    readModel.countApplied(TASKS_STREAM, result.applied);
    return result;
  });
}
