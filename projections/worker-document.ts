import type { Capacity, Usage } from '../streams/contracts/heartbeat.js';
import { endsStretch, type WorkerEvent, type WorkerStatus } from '../streams/contracts/worker-events.js';
import { NO_RESOURCES, type Resources } from './resources.js';
import { evolveUptime, startUptime, type UptimeRecord, uptimeOf } from './uptime.js';

/** What the tasks assigned to or running on a worker hold there (kept by the tasks projection). */
export interface WorkerAllocation {
  /** The sum of their requests: free = capacity − allocated. */
  allocated: Resources;
  /** Their ids, in id order. */
  taskIds: string[];
}

/** A worker as the read model shows it: everything `cloudai workers` prints. */
export interface WorkerDocument extends WorkerAllocation {
  workerId: string;
  status: WorkerStatus;
  address: string;
  capacity: Capacity;
  usage: Usage;
  /** Monitor receive time of the latest heartbeat known here (events, plus heartbeat samples). */
  lastHeartbeatAt: number;
  /** When the worker entered its current status. */
  statusSince: number;
  registeredAt: number;
  /** `seq` of the last WORKER_EVENTS event applied to this document. */
  lastEventSeq: number;
  /** Came back from inactive too often lately: no new tasks until it has stayed up for the hold-down time. */
  flapping: boolean;
  /** An operator said no new tasks (`cloudai workers cordon`). */
  cordoned: boolean;
  /** A drain under way (`cloudai workers drain`); null or absent when none is. */
  drain?: DrainState | null;
  /** Time per status, outages and recent downtime (`cloudai workers stats`); read it with `uptimeOf`. */
  uptime?: UptimeRecord;
}

/** A drain under way: when it started, its deadline (wall clock) and the tasks still there. */
export interface DrainState {
  startedAt: number;
  deadlineAt: number;
  remainingTasks: number;
}

/**
 * Whether the scheduler may place a new task on the worker. One rule for the scheduler and
 * the CLI: active (not suspect, inactive, left or removed), not flapping, not cordoned, not
 * draining. A document written before these flags existed has none.
 */
export function isSchedulable(
  document: Pick<WorkerDocument, 'status' | 'flapping' | 'cordoned' | 'drain'>,
): boolean {
  return document.status === 'active' && !document.flapping && !document.cordoned && !document.drain;
}

/**
 * Whether the worker has lost its tasks: the scheduler requeues what it held once it is
 * inactive, left or removed. A suspect worker keeps them (it may only be late).
 */
export function hasLostItsTasks(document: Pick<WorkerDocument, 'status'>): boolean {
  return document.status === 'inactive' || document.status === 'left' || document.status === 'removed';
}

/** Usage and receive time of a heartbeat: not an event, folded in batches to keep "last seen" fresh. */
export interface HeartbeatSample {
  receivedAt: number;
  usage: Usage;
}

const NO_USAGE: Usage = { cpu: 0, memory: 0, storage: 0, gpu: 0 };

/**
 * Folds one event into a worker's document. Pure: the same inputs always give the same
 * document, and an event the document already reflects (seq not newer) changes nothing,
 * so replaying the stream is harmless.
 */
export function evolveWorker(document: WorkerDocument | undefined, event: WorkerEvent): WorkerDocument {
  const next = evolveWorkerStatus(document, event);
  if (next === document) return next;
  const measuredMs = endsStretch(event) ? event.previousStretchMs : undefined;
  return { ...next, uptime: nextUptime(document, next, measuredMs) };
}

/**
 * The same fold without the uptime record, for a reader that never shows it (the scheduler):
 * building one per event was a fifth of the scheduler's share of a registration burst.
 */
export function evolveWorkerStatus(document: WorkerDocument | undefined, event: WorkerEvent): WorkerDocument {
  if (document && event.seq <= document.lastEventSeq) return document;
  return applyEvent(document ?? emptyDocument(event), document, event);
}

/**
 * The uptime record after an event: unchanged while the status stretch goes on; a fresh one for
 * a new worker and for one that comes back after its removal (as its registration time does).
 */
function nextUptime(
  before: WorkerDocument | undefined,
  after: WorkerDocument,
  measuredMs: number | undefined,
): UptimeRecord {
  const stretch = { status: after.status, since: after.statusSince };
  if (!before || (before.status === 'removed' && after.status !== 'removed')) return startUptime(stretch);
  const record = uptimeOf(before);
  if (before.status === after.status && before.statusSince === after.statusSince) return record;
  return evolveUptime(record, { status: before.status, since: before.statusSince }, stretch, measuredMs);
}

function applyEvent(
  current: WorkerDocument,
  document: WorkerDocument | undefined,
  event: WorkerEvent,
): WorkerDocument {
  switch (event.type) {
    case 'WorkerRegistered':
      // Also a removed worker heartbeating again: it starts afresh, flags cleared.
      return {
        ...current,
        status: 'active',
        flapping: false,
        cordoned: false,
        // A drain ends with the removal it came back from (kept absent where there never was one).
        ...(current.drain ? { drain: null } : {}),
        address: event.address,
        capacity: event.capacity,
        lastHeartbeatAt: Math.max(current.lastHeartbeatAt, event.at),
        statusSince: event.at,
        registeredAt: document && document.status !== 'removed' ? current.registeredAt : event.at,
        lastEventSeq: event.seq,
      };
    case 'WorkerActivated':
    case 'WorkerRecovered':
      return heardFrom(current, event, 'active');
    case 'WorkerInactive':
      return heardFrom(current, event, 'inactive');
    case 'WorkerCapacityChanged':
      return { ...current, address: event.address, capacity: event.capacity, lastEventSeq: event.seq };
    case 'WorkerSuspected':
      return { ...current, status: 'suspect', statusSince: event.at, lastEventSeq: event.seq };
    case 'WorkerFlapping':
      return { ...current, flapping: true, lastEventSeq: event.seq };
    case 'WorkerStabilized':
      return { ...current, flapping: false, lastEventSeq: event.seq };
    case 'WorkerCordoned':
      return { ...current, cordoned: true, lastEventSeq: event.seq };
    case 'WorkerUncordoned':
      return { ...current, cordoned: false, lastEventSeq: event.seq };
    case 'WorkerLeft':
      return heardFrom(current, event, 'left');
    case 'WorkerDrainStarted':
      return {
        ...current,
        drain: {
          startedAt: event.at,
          deadlineAt: event.at + event.deadlineMs,
          remainingTasks: event.remainingTasks,
        },
        lastEventSeq: event.seq,
      };
    case 'WorkerDrainProgress':
      return {
        ...current,
        drain: current.drain ? { ...current.drain, remainingTasks: event.remainingTasks } : null,
        lastEventSeq: event.seq,
      };
    case 'WorkerDrained':
      return { ...current, drain: null, cordoned: true, lastEventSeq: event.seq };
    case 'WorkerDrainCancelled':
      return { ...current, drain: null, lastEventSeq: event.seq };
    case 'WorkerRemoved':
      return { ...current, status: 'removed', statusSince: event.at, lastEventSeq: event.seq };
  }
}

/** A new status, learnt with the time of the worker's last heartbeat. */
function heardFrom(
  current: WorkerDocument,
  event: { at: number; seq: number; lastHeartbeatAt: number },
  status: WorkerStatus,
): WorkerDocument {
  return {
    ...current,
    status,
    lastHeartbeatAt: Math.max(current.lastHeartbeatAt, event.lastHeartbeatAt),
    statusSince: event.at,
    lastEventSeq: event.seq,
  };
}

/** Folds a heartbeat sample into an existing document; status is only ever changed by events. */
export function applyHeartbeatSample(document: WorkerDocument, sample: HeartbeatSample): WorkerDocument {
  if (sample.receivedAt < document.lastHeartbeatAt) return document;
  return { ...document, lastHeartbeatAt: sample.receivedAt, usage: sample.usage };
}

/** Used when the first event seen for a worker is not its registration (e.g. a stream with old events purged). */
function emptyDocument(event: WorkerEvent): WorkerDocument {
  return {
    workerId: event.workerId,
    status: 'active',
    address: '',
    capacity: NO_RESOURCES,
    usage: NO_USAGE,
    lastHeartbeatAt: 0,
    statusSince: event.at,
    registeredAt: event.at,
    lastEventSeq: 0,
    flapping: false,
    cordoned: false,
    allocated: NO_RESOURCES,
    taskIds: [],
  };
}
