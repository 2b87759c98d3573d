import { z } from 'zod';
import { type DecodeResult, decodeJson, encodeJson } from '../util/json-codec.js';
import { capacitySchema } from './heartbeat.js';
import { WORKER_ID_PATTERN } from './subjects.js';

/**
 * Events of stream WORKER_EVENTS, one per liveness transition. `seq` counts the
 * transitions of one worker (1, 2, 3, …) and forms its `Nats-Msg-Id`; `at` is the
 * monitor's clock, never the worker's.
 */

/**
 * Liveness as the events record it. `suspect`: heartbeats are late (the worker keeps its tasks
 * but gets no new ones); `left`: it announced a clean stop (no failure: its tasks went elsewhere
 * at once, and it activates again if it beats again); `removed`: an operator forgot it (it
 * re-registers if it beats again).
 */
export type WorkerStatus = 'active' | 'suspect' | 'inactive' | 'left' | 'removed';
export const WORKER_STATUSES: readonly WorkerStatus[] = ['active', 'suspect', 'inactive', 'left', 'removed'];

/**
 * Who wrote an event, when several control planes share the fleet: the writer's id and its lease
 * epoch for the worker's partition (a bucket revision: a later holder always has a larger one),
 * so a reader can tell the writers apart and spot a stale one. Absent in older events.
 */
export const writerFields = {
  controlPlane: z.string().optional(),
  epoch: z.number().int().min(1).optional(),
};

const base = {
  workerId: z.string().regex(WORKER_ID_PATTERN),
  at: z.number().finite(),
  seq: z.number().int().min(1),
  ...writerFields,
};

/**
 * On the events that start a new status stretch (all but the registration): how long the stretch
 * they end lasted, measured by the monitor on its monotonic clock, so uptime does not depend on
 * the host's wall clock staying put. Absent in events written before it was measured.
 */
const stretchLength = {
  previousStretchMs: z.number().finite().min(0).optional(),
};

const workerRegisteredSchema = z.object({
  type: z.literal('WorkerRegistered'),
  ...base,
  address: z.string(),
  capacity: capacitySchema,
});

const workerActivatedSchema = z.object({
  type: z.literal('WorkerActivated'),
  ...base,
  ...stretchLength,
  lastHeartbeatAt: z.number().finite(),
});

const workerInactiveSchema = z.object({
  type: z.literal('WorkerInactive'),
  ...base,
  ...stretchLength,
  lastHeartbeatAt: z.number().finite(),
  silentForMs: z.number().finite().min(0),
});

const workerCapacityChangedSchema = z.object({
  type: z.literal('WorkerCapacityChanged'),
  ...base,
  address: z.string(),
  capacity: capacitySchema,
});

/** Heartbeats are late: φ crossed its threshold, or (too few samples yet) `suspectAfterMs` passed. */
const workerSuspectedSchema = z.object({
  type: z.literal('WorkerSuspected'),
  ...base,
  ...stretchLength,
  lastHeartbeatAt: z.number().finite(),
  silentForMs: z.number().finite().min(0),
  /** The silence that made it suspect: where φ reaches the threshold, or the fixed fallback. */
  suspectAfterMs: z.number().finite().min(0),
  /** φ at `at`; null when the fixed `suspectAfterMs` decided (too few inter-arrival samples). */
  phi: z.number().finite().min(0).nullable(),
  /** Its timeout came in disruption mode: held `suspect` instead of declared inactive (`suspectAfterMs` is the timeout). */
  heldByDisruption: z.literal(true).optional(),
});

/** A heartbeat came while the worker was suspect. */
const workerRecoveredSchema = z.object({
  type: z.literal('WorkerRecovered'),
  ...base,
  ...stretchLength,
  lastHeartbeatAt: z.number().finite(),
});

/** Came back from inactive more than the allowed number of times within the flap window. */
const workerFlappingSchema = z.object({
  type: z.literal('WorkerFlapping'),
  ...base,
  /** Comebacks (inactive → active) within the last `windowMs`, this one included. */
  comebacks: z.number().int().min(1),
  windowMs: z.number().int().min(1),
  /** How long it must stay up, from `at` or its next comeback, before it gets tasks again. */
  holdDownMs: z.number().int().min(1),
});

/** A flapping worker stayed up for the hold-down time: it is schedulable again. */
const workerStabilizedSchema = z.object({
  type: z.literal('WorkerStabilized'),
  ...base,
  stableForMs: z.number().finite().min(0),
});

/** Operator controls (`cloudai workers cordon|uncordon|remove`). */
const workerCordonedSchema = z.object({ type: z.literal('WorkerCordoned'), ...base });
const workerUncordonedSchema = z.object({ type: z.literal('WorkerUncordoned'), ...base });
const workerRemovedSchema = z.object({ type: z.literal('WorkerRemoved'), ...base, ...stretchLength });

/**
 * Drain (`cloudai workers drain ID`): no new tasks, those it holds may finish until the
 * deadline; then those still there are stopped and placed elsewhere. The deadline is `at` of
 * WorkerDrainStarted plus `deadlineMs`.
 */
const workerDrainStartedSchema = z.object({
  type: z.literal('WorkerDrainStarted'),
  ...base,
  deadlineMs: z.number().int().min(1),
  /** Tasks assigned to or running on it when the drain started. */
  remainingTasks: z.number().int().min(0),
});

/** A task of a draining worker ended or moved. */
const workerDrainProgressSchema = z.object({
  type: z.literal('WorkerDrainProgress'),
  ...base,
  remainingTasks: z.number().int().min(0),
});

/**
 * The drain is over: its tasks finished, or the deadline came and `remainingTasks` were stopped
 * and requeued. The worker stays cordoned (`cloudai workers uncordon` gives it tasks again).
 */
const workerDrainedSchema = z.object({
  type: z.literal('WorkerDrained'),
  ...base,
  endedBy: z.enum(['tasks-finished', 'deadline']),
  remainingTasks: z.number().int().min(0),
});

/** `cloudai workers drain ID --cancel`: schedulable again (unless cordoned before). */
const workerDrainCancelledSchema = z.object({ type: z.literal('WorkerDrainCancelled'), ...base });

/** A task attempt a leaving worker stopped: the scheduler places it elsewhere. */
export const stoppedAttemptSchema = z.object({
  taskId: z.string().regex(WORKER_ID_PATTERN),
  attempt: z.number().int().min(1),
});
export type StoppedAttempt = z.infer<typeof stoppedAttemptSchema>;

/** Most stopped attempts one leave names; a worker runs far fewer at once. */
export const MAX_STOPPED_ATTEMPTS = 1_000;

/** The worker announced that it stops (SIGINT/SIGTERM of `cloudai worker`), on its own subject. */
const workerLeftSchema = z.object({
  type: z.literal('WorkerLeft'),
  ...base,
  ...stretchLength,
  lastHeartbeatAt: z.number().finite(),
  /** What it ran and stopped on its way out. */
  stoppedAttempts: z.array(stoppedAttemptSchema).max(MAX_STOPPED_ATTEMPTS),
});

export const workerEventSchema = z.discriminatedUnion('type', [
  workerRegisteredSchema,
  workerActivatedSchema,
  workerInactiveSchema,
  workerCapacityChangedSchema,
  workerSuspectedSchema,
  workerRecoveredSchema,
  workerFlappingSchema,
  workerStabilizedSchema,
  workerCordonedSchema,
  workerUncordonedSchema,
  workerRemovedSchema,
  workerLeftSchema,
  workerDrainStartedSchema,
  workerDrainProgressSchema,
  workerDrainedSchema,
  workerDrainCancelledSchema,
]);

/**
 * Disruption mode: the fleet doubts its own view (too many workers going silent at once looks
 * like a partition near the control plane), so it declares nobody inactive while it lasts.
 * These events belong to no worker; each control plane runs the mode over the workers it judges,
 * so `seq` counts the events of one control plane (`controlPlane`; 1, 2, 3, …) and forms, with
 * its id, their `Nats-Msg-Id`.
 */
const disruptionStartedSchema = z.object({
  type: z.literal('DisruptionStarted'),
  at: z.number().finite(),
  seq: z.number().int().min(1),
  ...writerFields,
  /** Workers suspect, or inactive within the last timeout, when the mode started (the trigger included). */
  unhealthyWorkers: z.number().int().min(0),
  /** Those plus the active ones: the share was unhealthy / considered. */
  consideredWorkers: z.number().int().min(0),
  thresholdPercent: z.number().finite().min(0).max(100),
});

const disruptionEndedSchema = z.object({
  type: z.literal('DisruptionEnded'),
  at: z.number().finite(),
  seq: z.number().int().min(1),
  ...writerFields,
  /** `heartbeats`: enough workers were heard again; `operator`: `cloudai disruption end`. */
  endedBy: z.enum(['heartbeats', 'operator']),
});

export const disruptionEventSchema = z.discriminatedUnion('type', [
  disruptionStartedSchema,
  disruptionEndedSchema,
]);

/** Everything stream WORKER_EVENTS holds. */
export const workerStreamEventSchema = z.discriminatedUnion('type', [
  ...workerEventSchema.options,
  ...disruptionEventSchema.options,
]);

export type WorkerEvent = z.infer<typeof workerEventSchema>;
export type WorkerRegistered = z.infer<typeof workerRegisteredSchema>;
export type WorkerActivated = z.infer<typeof workerActivatedSchema>;
export type WorkerInactive = z.infer<typeof workerInactiveSchema>;
export type WorkerCapacityChanged = z.infer<typeof workerCapacityChangedSchema>;
export type WorkerSuspected = z.infer<typeof workerSuspectedSchema>;
export type WorkerRecovered = z.infer<typeof workerRecoveredSchema>;
export type WorkerFlapping = z.infer<typeof workerFlappingSchema>;
export type WorkerStabilized = z.infer<typeof workerStabilizedSchema>;
export type WorkerLeft = z.infer<typeof workerLeftSchema>;

/** The events that end a worker's status stretch (and start the next), saying how long it lasted. */
const STRETCH_ENDING_TYPES = [
  'WorkerActivated',
  'WorkerRecovered',
  'WorkerSuspected',
  'WorkerInactive',
  'WorkerLeft',
  'WorkerRemoved',
] as const;
export type StretchEndingEvent = Extract<WorkerEvent, { type: (typeof STRETCH_ENDING_TYPES)[number] }>;

export function endsStretch(event: WorkerStreamEvent): event is StretchEndingEvent {
  return (STRETCH_ENDING_TYPES as readonly string[]).includes(event.type);
}
export type WorkerDrained = z.infer<typeof workerDrainedSchema>;
export type DrainEndedBy = WorkerDrained['endedBy'];
export type DisruptionEvent = z.infer<typeof disruptionEventSchema>;
export type DisruptionStarted = z.infer<typeof disruptionStartedSchema>;
export type DisruptionEnded = z.infer<typeof disruptionEndedSchema>;
export type WorkerStreamEvent = WorkerEvent | DisruptionEvent;

const partitionTakenSchema = z.object({
  type: z.literal('PartitionTaken'),
  partition: z.number().int().min(0),
  epoch: z.number().int().min(1),
  controlPlane: z.string(),
  at: z.number().finite(),
});

/**
 * Not a liveness event: a control plane took a partition under a new epoch. Readers drop any
 * later-stored event of that partition's workers written under an older epoch (a previous
 * holder's, delayed on the network).
 */
export type PartitionTaken = z.infer<typeof partitionTakenSchema>;

/** Everything WORKER_EVENTS holds: the events and the partition markers. */
export type WorkerStreamEntry = WorkerStreamEvent | PartitionTaken;

const workerStreamEntrySchema = z.discriminatedUnion('type', [
  ...workerStreamEventSchema.options,
  partitionTakenSchema,
]);

export function encodePartitionTaken(marker: PartitionTaken): Uint8Array {
  return encodeJson(marker);
}

/** Parses any entry of WORKER_EVENTS (readers that follow the whole stream). */
export function decodeWorkerStreamEntry(payload: Uint8Array): DecodeResult<WorkerStreamEntry> {
  return decodeJson(payload, workerStreamEntrySchema);
}

export function isDisruptionEvent(event: WorkerStreamEvent): event is DisruptionEvent {
  return event.type === 'DisruptionStarted' || event.type === 'DisruptionEnded';
}

export function encodeWorkerEvent(event: WorkerStreamEvent): Uint8Array {
  return encodeJson(event);
}

/** Parses a stored event; a corrupt one is reported, not thrown, so one bad record cannot stop a projector. */
export function decodeWorkerEvent(payload: Uint8Array): DecodeResult<WorkerStreamEvent> {
  return decodeJson(payload, workerStreamEventSchema);
}

/** The one human wording of each event: the control plane's log line and the alert's summary. */
export function describeWorkerEvent(event: WorkerStreamEvent): string {
  switch (event.type) {
    case 'WorkerRegistered':
      return `worker ${event.workerId} registered (${event.address || 'no address'})`;
    case 'WorkerActivated':
      return `worker ${event.workerId} is active again (heartbeat at ${iso(event.lastHeartbeatAt)})`;
    case 'WorkerInactive':
      return (
        `worker ${event.workerId} is inactive: no heartbeat for ${seconds(event.silentForMs)} ` +
        `(last at ${iso(event.lastHeartbeatAt)}); its tasks are placed elsewhere`
      );
    case 'WorkerCapacityChanged':
      return `worker ${event.workerId} changed capacity or address (${event.address || 'no address'})`;
    case 'WorkerSuspected':
      if (event.heldByDisruption) {
        return (
          `worker ${event.workerId} is held suspect by disruption mode: no heartbeat for ` +
          `${seconds(event.silentForMs)}, its timeout; it keeps its tasks but gets no new ones until the mode ends`
        );
      }
      return (
        `worker ${event.workerId} is suspect: no heartbeat for ${seconds(event.silentForMs)} ` +
        (event.phi === null
          ? `(grace of ${seconds(event.suspectAfterMs)} passed)`
          : `(φ ${event.phi.toFixed(1)})`) +
        '; it keeps its tasks but gets no new ones'
      );
    case 'WorkerRecovered':
      return `worker ${event.workerId} recovered: a heartbeat came while it was suspect`;
    case 'WorkerFlapping':
      return (
        `worker ${event.workerId} is flapping: back ${event.comebacks} times within ${seconds(event.windowMs)}; ` +
        `no new tasks until it stays up for ${seconds(event.holdDownMs)}`
      );
    case 'WorkerStabilized':
      return `worker ${event.workerId} is stable again after ${seconds(event.stableForMs)} up`;
    case 'WorkerCordoned':
      return `worker ${event.workerId} cordoned: no new tasks`;
    case 'WorkerUncordoned':
      return `worker ${event.workerId} uncordoned`;
    case 'WorkerRemoved':
      return `worker ${event.workerId} removed; it registers again if it heartbeats`;
    case 'WorkerLeft':
      return (
        `worker ${event.workerId} left (a clean stop; it had stopped ${event.stoppedAttempts.length} task attempts); ` +
        'its tasks are placed elsewhere'
      );
    case 'WorkerDrainStarted':
      return (
        `worker ${event.workerId} draining: no new tasks; ${event.remainingTasks} tasks may finish within ` +
        seconds(event.deadlineMs)
      );
    case 'WorkerDrainProgress':
      return `worker ${event.workerId} draining: ${event.remainingTasks} tasks left`;
    case 'WorkerDrained':
      return event.endedBy === 'deadline'
        ? `worker ${event.workerId} drained at its deadline: ${event.remainingTasks} tasks stopped and requeued; it stays cordoned`
        : `worker ${event.workerId} drained: its tasks finished; it stays cordoned`;
    case 'WorkerDrainCancelled':
      return `worker ${event.workerId}: drain cancelled`;
    case 'DisruptionStarted':
      return (
        `disruption mode started: ${event.unhealthyWorkers} of ${event.consideredWorkers} workers went silent ` +
        `(threshold ${event.thresholdPercent} %); no worker is declared inactive until it ends`
      );
    case 'DisruptionEnded':
      return `disruption mode ended ${event.endedBy === 'operator' ? 'by an operator' : 'as workers were heard again'}`;
  }
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

function iso(at: number): string {
  return new Date(at).toISOString();
}
