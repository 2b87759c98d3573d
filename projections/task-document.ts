import type {
  TaskEvent,
  TaskEventType,
  TaskFailure,
  TaskSpec,
  TaskStatus,
} from '../streams/contracts/task-events.js';
import { type Resources, requestsOf } from './resources.js';

/** One applied event in a task's life, as `cloudai task show` prints it. */
export interface TaskHistoryEntry {
  event: TaskEventType;
  at: number;
  attempt: number;
  workerId?: string;
  reason?: string;
  /** For TaskAssigned: the WORKER_EVENTS sequence the placement was based on. */
  basedOnWorkerSeq?: number;
}

/** A task as the read model (and the scheduler's memory) holds it. */
export interface TaskDocument extends TaskSpec {
  taskId: string;
  status: TaskStatus;
  /** Starts at 1; a requeue gives up the current attempt and starts the next. */
  attempt: number;
  /** The worker of the current attempt, while it is assigned or running (and the last one after it ends). */
  workerId: string | null;
  statusSince: number;
  /** Of the current attempt's placement. */
  basedOnWorkerSeq: number | null;
  exitCode: number | null;
  /** Why its last attempt failed, when it failed with a kind (see TASK_FAILURES). */
  failure?: TaskFailure;
  history: TaskHistoryEntry[];
}

const TERMINAL_STATUSES: readonly TaskStatus[] = ['completed', 'failed', 'cancelled'];

export function isTerminal(status: TaskStatus): boolean {
  return TERMINAL_STATUSES.includes(status);
}

/**
 * The task life cycle as data: which statuses each event may move a task from, and to where.
 * An event arriving in any other status is ignored (a duplicate, a late report, a race lost).
 */
const TASK_TRANSITIONS: {
  readonly [T in TaskEventType]: { from: readonly TaskStatus[]; to: TaskStatus };
} = {
  TaskSubmitted: { from: [], to: 'queued' },
  TaskAssigned: { from: ['queued'], to: 'assigned' },
  TaskStarted: { from: ['assigned'], to: 'running' },
  TaskCompleted: { from: ['assigned', 'running'], to: 'completed' },
  TaskFailed: { from: ['assigned', 'running'], to: 'failed' },
  TaskRequeued: { from: ['assigned', 'running'], to: 'queued' },
  TaskCancelled: { from: ['queued', 'assigned', 'running'], to: 'cancelled' },
};

/**
 * Why `event` changes nothing in `document`, or undefined when it applies. Reports and
 * requeues must name the current attempt and its worker: anything from an older attempt is
 * history that has already been overtaken.
 */
export function whyIgnored(document: TaskDocument | undefined, event: TaskEvent): string | undefined {
  if (!document) return event.type === 'TaskSubmitted' ? undefined : 'unknown task';
  if (event.type === 'TaskSubmitted') return 'already submitted';
  if (!TASK_TRANSITIONS[event.type].from.includes(document.status)) return `task is ${document.status}`;
  if (event.type === 'TaskCancelled') return undefined;
  if (event.attempt !== document.attempt) {
    return `attempt ${event.attempt} is not the current attempt ${document.attempt}`;
  }
  if (event.type !== 'TaskAssigned' && event.workerId !== document.workerId) {
    return `attempt ${event.attempt} runs on ${document.workerId}, not ${event.workerId}`;
  }
  return undefined;
}

/**
 * Folds one event into a task's document. Pure, and idempotent: an event the document
 * already reflects is ignored by the transition rules, so replaying a stream is harmless.
 * Returns the same object when the event is ignored.
 */
export function evolveTask(document: TaskDocument | undefined, event: TaskEvent): TaskDocument | undefined {
  if (whyIgnored(document, event) !== undefined) return document;
  if (event.type === 'TaskSubmitted') {
    return {
      ...event.task,
      taskId: event.taskId,
      status: 'queued',
      attempt: 1,
      workerId: null,
      statusSince: event.at,
      basedOnWorkerSeq: null,
      exitCode: null,
      history: [{ event: event.type, at: event.at, attempt: 1 }],
    };
  }
  const current = document as TaskDocument;
  const status = TASK_TRANSITIONS[event.type].to;
  const entry: TaskHistoryEntry = { event: event.type, at: event.at, attempt: current.attempt };
  if ('workerId' in event) entry.workerId = event.workerId;
  if ('reason' in event) entry.reason = event.reason;
  if (event.type === 'TaskAssigned') entry.basedOnWorkerSeq = event.basedOnWorkerSeq;
  const next: TaskDocument = {
    ...current,
    status,
    statusSince: event.at,
    history: [...current.history, entry],
  };
  switch (event.type) {
    case 'TaskAssigned':
      return { ...next, workerId: event.workerId, basedOnWorkerSeq: event.basedOnWorkerSeq };
    case 'TaskFailed':
      return { ...next, exitCode: event.exitCode, ...(event.failure ? { failure: event.failure } : {}) };
    case 'TaskRequeued':
      return { ...next, attempt: current.attempt + 1, workerId: null, basedOnWorkerSeq: null };
    default:
      return next;
  }
}

/** What a task holds on a worker: its requests, while it is assigned or running there. */
export interface Holding {
  workerId: string;
  requests: Resources;
}

export function holdingOf(document: TaskDocument | undefined): Holding | undefined {
  if (!document || document.workerId === null) return undefined;
  if (document.status !== 'assigned' && document.status !== 'running') return undefined;
  return { workerId: document.workerId, requests: requestsOf(document) };
}

/** Oldest first (then by id, so the order is total): the queue's order, and the tasks table's. */
export function bySubmission(a: TaskDocument, b: TaskDocument): number {
  return a.submittedAt - b.submittedAt || (a.taskId < b.taskId ? -1 : a.taskId > b.taskId ? 1 : 0);
}

/** The task as submitted, without its life so far: what an assignment carries to a worker. */
export function specOf(task: TaskDocument): TaskSpec {
  const spec: TaskSpec = {
    cpu: task.cpu,
    memoryGb: task.memoryGb,
    storageGb: task.storageGb,
    gpu: task.gpu,
    type: task.type,
    k: task.k,
    submittedAt: task.submittedAt,
  };
  if (task.image !== undefined) spec.image = task.image;
  if (task.command !== undefined) spec.command = task.command;
  return spec;
}
