import { TASKS_STREAM } from '../streams/contracts/subjects.js';
import { decodeTaskStreamEntry, type TaskEvent } from '../streams/contracts/task-events.js';
import {
  type Projection,
  type ProjectionStats,
  type ProjectorOptions,
  ProjectorRunner,
} from './projector-runner.js';
import type { ReadModel } from './read-model.js';
import { forEachNewEvent, type InvalidEventHandler, type StreamMessage } from './stream-batch.js';
import { evolveTask, holdingOf, type TaskDocument } from './task-document.js';
import type { WorkerDocument } from './worker-document.js';
import { DecisionFence } from './writer-fence.js';

/**
 * TASKS folded into the task documents, the index of what each worker holds, and the
 * `allocated` of the workers' documents.
 */
const taskProjection = {
  stream: TASKS_STREAM,
  emptyStats: (): TaskProjectionStats => ({ applied: 0, duplicates: 0, invalid: 0, ignored: 0 }),
  applyBatch: (readModel: ReadModel, messages: readonly StreamMessage[], onInvalid: InvalidEventHandler) =>
    applyTaskEventBatch(readModel, messages, { onInvalid }),
} satisfies Projection<TaskProjectionStats>;

export type TaskProjector = ProjectorRunner<TaskProjectionStats, typeof taskProjection>;

export interface TaskProjectorOptions extends ProjectorOptions {
  /** Called after each batch with the workers whose held tasks it changed (the drains follow them). */
  onHoldingsChanged?: (workerIds: ReadonlySet<string>) => void;
}

export function startTaskProjector(options: TaskProjectorOptions): Promise<TaskProjector> {
  const { onHoldingsChanged } = options;
  if (!onHoldingsChanged) return ProjectorRunner.start(options, taskProjection);
  return ProjectorRunner.start(options, {
    ...taskProjection,
    applyBatch: async (readModel, messages, onInvalid) => {
      const workersChanged = new Set<string>();
      const stats = await applyTaskEventBatch(readModel, messages, { onInvalid, workersChanged });
      if (workersChanged.size > 0) onHoldingsChanged(workersChanged);
      return stats;
    },
  });
}

export interface TaskProjectionStats extends ProjectionStats {
  /** Valid events the task's state did not accept (late reports of an older attempt, races lost). */
  ignored: number;
}

/** A batch as applied: its counts, and what changed. */
export interface TaskBatchResult extends TaskProjectionStats {
  /** The events applied (ignored ones left out), in stream order. */
  events: TaskEvent[];
  /** The task documents the batch wrote, as written. */
  changedTasks: TaskDocument[];
  /** The worker documents whose allocation the batch changed, as written. */
  changedWorkers: WorkerDocument[];
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
    onInvalid?: InvalidEventHandler;
    /** Receives the workers whose held tasks the batch changed. */
    workersChanged?: Set<string>;
  } = {},
): Promise<TaskBatchResult> {
  return readModel.write(() => {
    const result: TaskBatchResult = {
      applied: 0,
      duplicates: 0,
      invalid: 0,
      ignored: 0,
      events: [],
      changedTasks: [],
      changedWorkers: [],
    };
    const touched = new Map<string, TaskDocument>();
    const workersToRefresh = new Set<string>();
    const fence = new DecisionFence(readModel.schedulerEpoch());
    const position = forEachNewEvent(messages, readModel.position(TASKS_STREAM), decodeTaskStreamEntry, {
      counts: result,
      onInvalid: options.onInvalid,
      apply: (event) => {
        if (event.type === 'SchedulerTaken') {
          fence.take(event);
          readModel.putSchedulerEpoch(fence.currentEpoch);
          return;
        }
        // A late decision of a previous scheduler: counted with the ignored, as the scheduler does.
        if (!fence.admits(event)) {
          result.ignored++;
          return;
        }
        const before = touched.get(event.taskId) ?? readModel.getTask(event.taskId);
        const after = evolveTask(before, event);
        if (after === before || !after) {
          // Counted here; the scheduler, which folds the same events, logs why.
          result.ignored++;
          return;
        }
        touched.set(event.taskId, after);
        result.events.push(event);
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
    });
    for (const document of touched.values()) readModel.putTask(document);
    // A worker not projected yet gets its allocation when its first event is (see the worker projection).
    for (const workerId of workersToRefresh) {
      options.workersChanged?.add(workerId);
      const worker = readModel.getWorker(workerId, { uptime: false });
      if (!worker) continue;
      const written = { ...worker, ...readModel.allocationOf(workerId) };
      readModel.putWorker(written);
      result.changedWorkers.push(written);
    }
    result.changedTasks = [...touched.values()];
    readModel.setPosition(TASKS_STREAM, position);
    readModel.countApplied(TASKS_STREAM, result.applied);
    return result;
  });
}
