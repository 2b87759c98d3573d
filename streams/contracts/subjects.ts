/**
 * Subject and stream names: the wire contract every process agrees on.
 * Worker ids double as subject tokens, so they are restricted to characters
 * that can never be NATS wildcards or separators.
 */

export const WORKER_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

/** `WORKER_ID_PATTERN` in words, for the messages that refuse an id. */
export const ID_RULE = '1–64 characters of A–Z, a–z, 0–9, _ and -';

export function isValidWorkerId(value: unknown): value is string {
  return typeof value === 'string' && WORKER_ID_PATTERN.test(value);
}

export const HEARTBEAT_PREFIX = 'heartbeat.';
/** Heartbeats as workers publish them, on a server without the partition mapping. */
export const HEARTBEAT_WILDCARD = 'heartbeat.*';

export function heartbeatSubject(workerId: string): string {
  return `${HEARTBEAT_PREFIX}${workerId}`;
}

/** Heartbeats of one partition as a server with the partition mapping delivers them: `heartbeat.<p>.<id>`. */
export function partitionHeartbeatWildcard(partition: number): string {
  return `${HEARTBEAT_PREFIX}${partition}.*`;
}

/** What a worker may publish on a server with the mapping: the server checks the mapped subject. */
export function mappedHeartbeatSubjects(workerId: string): string {
  return `${HEARTBEAT_PREFIX}*.${workerId}`;
}

/**
 * The worker id a heartbeat subject names, `heartbeat.<id>` or (mapped by the server)
 * `heartbeat.<partition>.<id>`, with the partition when the server gave one; undefined for any
 * other subject.
 */
export function parseHeartbeatSubject(subject: string): { workerId: string; partition?: number } | undefined {
  if (!subject.startsWith(HEARTBEAT_PREFIX)) return undefined;
  const rest = subject.slice(HEARTBEAT_PREFIX.length);
  const dot = rest.indexOf('.');
  if (dot < 0) return rest.length > 0 ? { workerId: rest } : undefined;
  const partitionToken = rest.slice(0, dot);
  const workerId = rest.slice(dot + 1);
  if (!/^\d{1,4}$/.test(partitionToken) || workerId.length === 0 || workerId.includes('.')) return undefined;
  return { workerId, partition: Number(partitionToken) };
}

/** The worker id a heartbeat subject names (either form), or undefined. */
export function workerIdFromHeartbeatSubject(subject: string): string | undefined {
  return parseHeartbeatSubject(subject)?.workerId;
}

export const WORKER_EVENTS_STREAM = 'WORKER_EVENTS';
export const WORKER_EVENTS_PREFIX = 'workers.events.';
export const WORKER_EVENTS_WILDCARD = 'workers.events.>';

export function workerEventSubject(workerId: string): string {
  return `${WORKER_EVENTS_PREFIX}${workerId}`;
}

/**
 * `Nats-Msg-Id` of a worker event: JetStream stores a retried publish once within the duplicate
 * window. With the writer's lease epoch, a late event of a previous holder cannot take the place
 * of the new holder's event of the same number.
 */
export function workerEventMessageId(workerId: string, seq: number, epoch?: number): string {
  return epoch === undefined ? `${workerId}:${seq}` : `${workerId}:${seq}:${epoch}`;
}

/**
 * Disruption events belong to no worker, but must be ordered with the workers' events, so
 * WORKER_EVENTS holds this subject too (outside `workers.events.>`: no worker id can collide).
 */
export const DISRUPTION_EVENTS_SUBJECT = 'workers.fleet.disruption';

/** Per control plane (each runs its own mode); events of an unnamed writer keep the old form. */
export function disruptionEventMessageId(seq: number, controlPlaneId?: string): string {
  return controlPlaneId ? `disruption:${controlPlaneId}:${seq}` : `disruption:${seq}`;
}

/**
 * A control plane took a partition (PartitionTaken): stored in WORKER_EVENTS before it judges
 * any of the partition's workers, so every reader knows the new epoch before a late event of
 * the previous holder can reach it.
 */
export function partitionTakenSubject(partition: number): string {
  return `workers.partitions.${partition}`;
}

export const PARTITION_TAKEN_WILDCARD = 'workers.partitions.*';

export function partitionTakenMessageId(partition: number, epoch: number): string {
  return `partition:${partition}:${epoch}`;
}

/** Copies of liveness changes for any subscriber (core NATS, not stored): `alerts.workers.<id>`. */
export function workerAlertSubject(workerId: string): string {
  return `alerts.workers.${workerId}`;
}

/** Disruption mode started or ended. */
export const DISRUPTION_ALERT_SUBJECT = 'alerts.fleet.disruption';
export const ALERTS_WILDCARD = 'alerts.>';

/** The operator's front door to the fleet (request/reply): cordon, uncordon, remove, end a disruption. */
export const WORKER_CORDON_SUBJECT = 'workers.api.cordon';
export const WORKER_UNCORDON_SUBJECT = 'workers.api.uncordon';
export const WORKER_REMOVE_SUBJECT = 'workers.api.remove';
export const DISRUPTION_END_SUBJECT = 'workers.api.disruption.end';
export const WORKER_DRAIN_SUBJECT = 'workers.api.drain';
export const WORKER_DRAIN_CANCEL_SUBJECT = 'workers.api.drain-cancel';
export const WORKERS_API_WILDCARD = 'workers.api.>';

/** A worker announcing that it stops (request/reply): only its own identity may publish here. */
export function workerLeaveSubject(workerId: string): string {
  return `workers.leave.${workerId}`;
}

export const WORKER_LEAVE_WILDCARD = 'workers.leave.*';

/** Task ids are subject tokens too, under the same rule as worker ids. */
export const TASK_ID_PATTERN = WORKER_ID_PATTERN;

export function isValidTaskId(value: unknown): value is string {
  return typeof value === 'string' && TASK_ID_PATTERN.test(value);
}

export const TASKS_STREAM = 'TASKS';
export const TASK_EVENTS_PREFIX = 'tasks.events.';
export const TASK_EVENTS_WILDCARD = 'tasks.events.>';

/**
 * A control plane took the scheduler (SchedulerTaken): stored in TASKS before its first decision,
 * so every reader knows the new epoch before a late decision of the previous scheduler reaches it.
 */
export const SCHEDULER_TAKEN_SUBJECT = 'tasks.scheduler';

/** Whether a stored message is a control plane's PartitionTaken or SchedulerTaken marker rather than an event. */
export function isMarkerSubject(subject: string): boolean {
  return subject === SCHEDULER_TAKEN_SUBJECT || subject.startsWith(PARTITION_TAKEN_WILDCARD.slice(0, -1));
}

export function schedulerTakenMessageId(epoch: number): string {
  return `scheduler:${epoch}`;
}

export function taskEventSubject(taskId: string): string {
  return `${TASK_EVENTS_PREFIX}${taskId}`;
}

/** Assignment requests to one worker's agent (request/reply, core NATS: never stored). */
export function taskAssignSubject(workerId: string): string {
  return `tasks.assign.${workerId}`;
}

/**
 * Where a worker's agent reports start and end of its attempts (request/reply). Workers may
 * not write TASKS themselves; the subject names the reporter, so one cannot report as another.
 */
export function taskReportSubject(workerId: string): string {
  return `tasks.reports.${workerId}`;
}

export const TASK_REPORTS_WILDCARD = 'tasks.reports.*';

/** Tells one worker's agent to stop running an attempt (cancelled or placed elsewhere); fire and forget. */
export function taskStopSubject(workerId: string): string {
  return `tasks.stop.${workerId}`;
}

/**
 * What a task prints, as its worker ships it: `tasks.logs.<workerId>.<taskId>`. Only the worker's
 * own identity may publish under `tasks.logs.<workerId>.>`; stream TASK_LOGS keeps a bounded tail.
 */
export const TASK_LOGS_STREAM = 'TASK_LOGS';
export const TASK_LOGS_WILDCARD = 'tasks.logs.>';

export function taskLogSubject(workerId: string, taskId: string): string {
  return `tasks.logs.${workerId}.${taskId}`;
}

/** Every log subject one worker may publish on. */
export function workerTaskLogsWildcard(workerId: string): string {
  return `tasks.logs.${workerId}.>`;
}

/** The logs of one task, from whichever workers ran its attempts. */
export function taskLogsFilter(taskId: string): string {
  return `tasks.logs.*.${taskId}`;
}

/** The worker that shipped a log message, from its subject. */
export function workerIdFromTaskLogSubject(subject: string): string | undefined {
  const tokens = subject.split('.');
  return tokens.length === 4 && tokens[0] === 'tasks' && tokens[1] === 'logs' ? tokens[2] : undefined;
}

/** The scheduler's front door (request/reply): `cloudai task submit` and `cloudai task cancel`. */
export const TASK_SUBMIT_SUBJECT = 'tasks.api.submit';
export const TASK_CANCEL_SUBJECT = 'tasks.api.cancel';
