import { z } from 'zod';
import { type DecodeResult, decodeJson, encodeJson } from '../util/json-codec.js';
import { RESOURCE_LIMITS } from './heartbeat.js';
import { TASK_ID_PATTERN, WORKER_ID_PATTERN } from './subjects.js';

/**
 * The task wire contract: events of stream TASKS (`tasks.events.<taskId>`), the assignment
 * request a worker's agent acknowledges (`tasks.assign.<workerId>`), and the scheduler's
 * submit/cancel requests. Names follow the original CloudAI task model.
 */

export const TASK_TYPES = [
  'cpu-light',
  'cpu-heavy',
  'memory-heavy',
  'gpu-inference',
  'gpu-training',
  'mixed',
] as const;
export type TaskType = (typeof TASK_TYPES)[number];

export const TASK_STATUSES = ['queued', 'assigned', 'running', 'completed', 'failed', 'cancelled'] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];

/** The SLA multiplier `k`: deadline = submittedAt + k·τ. */
export const SLA_MULTIPLIER_RANGE = { min: 1.5, max: 2.5 } as const;

// Same bounds as worker capacities, so a request can never be absurd where a capacity cannot.
const MAX_CORES = RESOURCE_LIMITS.cpu;
const MAX_GB = RESOURCE_LIMITS.memoryGb;
const MAX_GPUS = RESOURCE_LIMITS.gpu;
export const MAX_IMAGE_LENGTH = 512;
export const MAX_COMMAND_LENGTH = 16_384;
export const MAX_REASON_LENGTH = 2_000;

/**
 * Why an attempt failed, as a word a program can act on; `reason` says it for people.
 * `lost`: the worker lost track of it (it restarted while the attempt ran).
 */
export const TASK_FAILURES = [
  'exit-code',
  'out-of-memory',
  'image-missing',
  'invalid-image',
  'command-rejected',
  'killed',
  'runtime-error',
  'lost',
] as const;
export type TaskFailure = (typeof TASK_FAILURES)[number];

const amount = (max: number) => z.number().finite().min(0).max(max);

/** A task as submitted, with every default applied and its type resolved. */
export const taskSpecSchema = z.object({
  /** The container image the task names; absent: the task is its command (or a simulation). */
  image: z.string().min(1).max(MAX_IMAGE_LENGTH).optional(),
  command: z.string().min(1).max(MAX_COMMAND_LENGTH).optional(),
  cpu: amount(MAX_CORES),
  memoryGb: amount(MAX_GB),
  storageGb: amount(MAX_GB),
  gpu: z.number().int().min(0).max(MAX_GPUS),
  type: z.enum(TASK_TYPES),
  k: z.number().min(SLA_MULTIPLIER_RANGE.min).max(SLA_MULTIPLIER_RANGE.max),
  submittedAt: z.number().finite().min(0),
});
export type TaskSpec = z.infer<typeof taskSpecSchema>;

/**
 * A submission as a client sends it: every field may be left out. Only the
 * shape is checked here; the task model applies defaults and explains what is out of range.
 */
export const taskRequestSchema = z.object({
  image: z.string().optional(),
  command: z.string().optional(),
  cpu: z.number().optional(),
  memoryGb: z.number().optional(),
  storageGb: z.number().optional(),
  gpu: z.number().optional(),
  type: z.string().optional(),
  k: z.number().optional(),
});
export type TaskRequest = z.infer<typeof taskRequestSchema>;

const taskId = z.string().regex(TASK_ID_PATTERN);
const workerId = z.string().regex(WORKER_ID_PATTERN);
const attempt = z.number().int().min(1);
const reason = z.string().min(1).max(MAX_REASON_LENGTH);
/** `at` is the clock of whoever wrote the event: the scheduler, or the worker's agent for its reports. */
/** `epoch`: the scheduler's lease epoch when it wrote the event (absent in older events and in reports). */
const base = { taskId, at: z.number().finite(), epoch: z.number().int().min(1).optional() };

const taskSubmittedSchema = z.object({ type: z.literal('TaskSubmitted'), ...base, task: taskSpecSchema });
const taskAssignedSchema = z.object({
  type: z.literal('TaskAssigned'),
  ...base,
  workerId,
  attempt,
  /** The WORKER_EVENTS sequence the scheduler had applied when it decided: the placement's evidence. */
  basedOnWorkerSeq: z.number().int().min(0),
  policy: z.string().max(64),
});
const taskStartedSchema = z.object({ type: z.literal('TaskStarted'), ...base, workerId, attempt });
const taskCompletedSchema = z.object({
  type: z.literal('TaskCompleted'),
  ...base,
  workerId,
  attempt,
  durationMs: z.number().finite().min(0),
});
const taskFailedSchema = z.object({
  type: z.literal('TaskFailed'),
  ...base,
  workerId,
  attempt,
  durationMs: z.number().finite().min(0),
  reason,
  exitCode: z.number().int().nullable(),
  /** Absent in events written before failures had kinds. */
  failure: z.enum(TASK_FAILURES).optional(),
});
const taskRequeuedSchema = z.object({
  type: z.literal('TaskRequeued'),
  ...base,
  /** The worker and attempt given up; the task continues as attempt + 1. */
  workerId,
  attempt,
  reason,
});
const taskCancelledSchema = z.object({ type: z.literal('TaskCancelled'), ...base, reason });

export const taskEventSchema = z.discriminatedUnion('type', [
  taskSubmittedSchema,
  taskAssignedSchema,
  taskStartedSchema,
  taskCompletedSchema,
  taskFailedSchema,
  taskRequeuedSchema,
  taskCancelledSchema,
]);
export type TaskEvent = z.infer<typeof taskEventSchema>;
export type TaskEventType = TaskEvent['type'];
export type TaskSubmitted = z.infer<typeof taskSubmittedSchema>;
export type TaskAssigned = z.infer<typeof taskAssignedSchema>;
export type TaskRequeued = z.infer<typeof taskRequeuedSchema>;
/** Events a worker's agent reports about an attempt it runs (it sends them; the scheduler stores them). */
export type TaskReport = Extract<TaskEvent, { type: 'TaskStarted' | 'TaskCompleted' | 'TaskFailed' }>;
export const taskReportSchema = z.discriminatedUnion('type', [
  taskStartedSchema,
  taskCompletedSchema,
  taskFailedSchema,
]);

/**
 * A worker restarted and found an attempt it had been running left behind (its container);
 * it removed it. Not an event: the scheduler stores a requeue for it, if the attempt still
 * counts.
 */
const taskLostSchema = z.object({ type: z.literal('TaskLost'), ...base, workerId, attempt, reason });
export type TaskLost = z.infer<typeof taskLostSchema>;

/** Whatever a worker's agent sends on `tasks.reports.<workerId>`. */
export const workerReportSchema = z.discriminatedUnion('type', [
  taskStartedSchema,
  taskCompletedSchema,
  taskFailedSchema,
  taskLostSchema,
]);
export type WorkerReport = TaskReport | TaskLost;

/** `Nats-Msg-Id`-like key of a report, for the agent's ordered publisher. */
export function workerReportKey(report: WorkerReport): string {
  return report.type === 'TaskLost'
    ? `${report.taskId}:${report.attempt}:TaskLost`
    : taskEventMessageId(report);
}

/** The scheduler's answer to a report on `tasks.reports.<workerId>`: stored in TASKS, or refused for good. */
export const reportReplySchema = z.object({ stored: z.boolean(), reason: z.string().max(500).optional() });
export type ReportReply = z.infer<typeof reportReplySchema>;

/** Why the scheduler gave an attempt up; the reason text may add detail after a colon. */
export const REQUEUE_REASONS = {
  workerInactive: 'worker-inactive',
  workerRemoved: 'worker-removed',
  workerLeft: 'worker-left',
  drainDeadline: 'drain-deadline',
  notAcknowledged: 'not-acknowledged',
  refusedByWorker: 'refused-by-worker',
  missingFromHeartbeats: 'missing-from-heartbeats',
  lostByWorker: 'lost-by-worker',
} as const;

/**
 * `Nats-Msg-Id` of a task event. Each step of an attempt has one id, so a retried publish is
 * stored once, and a second decision for the same attempt within the window is refused.
 */
/**
 * A placement decision's id names its scheduler's epoch (when it has one): a late decision of a
 * previous scheduler cannot take the place of the new one's for the same attempt. A submission
 * or a cancellation is the user's, whoever stores it: its id stays the same across schedulers.
 */
export function taskEventMessageId(event: TaskEvent): string {
  switch (event.type) {
    case 'TaskSubmitted':
      return `${event.taskId}:submitted`;
    case 'TaskCancelled':
      return `${event.taskId}:cancelled`;
    default: {
      const epoch = event.epoch === undefined ? '' : `:${event.epoch}`;
      return `${event.taskId}:${event.attempt}:${event.type}${epoch}`;
    }
  }
}

/** Submissions and cancellations are the user's word, not a scheduler's decision: never fenced. */
export function isUserIntent(event: TaskEvent): boolean {
  return event.type === 'TaskSubmitted' || event.type === 'TaskCancelled';
}

export function encodeTaskEvent(event: TaskEvent): Uint8Array {
  return encodeJson(event);
}

export function decodeTaskEvent(payload: Uint8Array): DecodeResult<TaskEvent> {
  return decodeJson(payload, taskEventSchema);
}

const schedulerTakenSchema = z.object({
  type: z.literal('SchedulerTaken'),
  epoch: z.number().int().min(1),
  controlPlane: z.string(),
  at: z.number().finite(),
});

/**
 * Not a task event: a control plane took the scheduler under a new epoch. Readers drop any
 * later-stored decision written under an older epoch (the previous scheduler's, delayed).
 */
export type SchedulerTaken = z.infer<typeof schedulerTakenSchema>;

/** Everything TASKS holds: the events and the scheduler markers. */
export type TaskStreamEntry = TaskEvent | SchedulerTaken;

const taskStreamEntrySchema = z.union([taskEventSchema, schedulerTakenSchema]);

export function encodeSchedulerTaken(marker: SchedulerTaken): Uint8Array {
  return encodeJson(marker);
}

/** Parses any entry of TASKS (readers that follow the whole stream). */
export function decodeTaskStreamEntry(payload: Uint8Array): DecodeResult<TaskStreamEntry> {
  return decodeJson(payload, taskStreamEntrySchema);
}

// --- scheduler → agent: `tasks.assign.<workerId>` (request), `tasks.stop.<workerId>` ---

export const assignmentSchema = z.object({ taskId, attempt, task: taskSpecSchema });
export type Assignment = z.infer<typeof assignmentSchema>;

/** The agent's answer; anything else (or no answer in time) counts as not acknowledged. */
export const assignmentReplySchema = z.object({
  accepted: z.boolean(),
  reason: z.string().max(500).optional(),
});
export type AssignmentReply = z.infer<typeof assignmentReplySchema>;

/** Without `attempt`: whichever attempt of the task runs there (an orphan seen in a heartbeat). */
export const stopRequestSchema = z.object({ taskId, attempt: attempt.optional() });
export type StopRequest = z.infer<typeof stopRequestSchema>;

// --- clients → scheduler: `tasks.api.submit`, `tasks.api.cancel` ---

export const submitRequestSchema = z.object({ taskId: z.string(), task: taskRequestSchema });

export const placementOutcomeSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('assigned'), workerId: z.string() }),
  z.object({ kind: z.literal('queued'), reason: z.string() }),
]);
export type PlacementOutcome = z.infer<typeof placementOutcomeSchema>;

export const submitReplySchema = z.discriminatedUnion('ok', [
  z.object({ ok: z.literal(true), taskId: z.string(), outcome: placementOutcomeSchema }),
  z.object({ ok: z.literal(false), error: z.string() }),
]);
export type SubmitReply = z.infer<typeof submitReplySchema>;

export const cancelRequestSchema = z.object({ taskId: z.string() });

export const cancelReplySchema = z.discriminatedUnion('ok', [
  z.object({ ok: z.literal(true), taskId: z.string(), previousStatus: z.enum(TASK_STATUSES) }),
  z.object({ ok: z.literal(false), error: z.string() }),
]);
export type CancelReply = z.infer<typeof cancelReplySchema>;
