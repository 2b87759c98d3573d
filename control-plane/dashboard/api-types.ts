import type { DisruptionDocument } from '../../projections/disruption-document.js';
import type { AttemptSummary } from '../../projections/task-attempts.js';
import type { TaskDocument } from '../../projections/task-document.js';
import type { WorkerStats } from '../../projections/uptime.js';
import type { WorkerDocument } from '../../projections/worker-document.js';
import type { Alert } from '../../streams/contracts/alerts.js';
import type { TaskEvent, TaskStatus } from '../../streams/contracts/task-events.js';
import type { WorkerStreamEvent } from '../../streams/contracts/worker-events.js';
import type { FleetSummary } from './fleet-index.js';
import type { StatusStretchView } from './timeline.js';

/**
 * The dashboard's JSON API, as the page and scripts read it (docs/dashboard.md describes each
 * route). The page imports these types only; nothing here runs in the browser.
 */

/** A worker as the fleet page lists it: the stored document (no uptime record), and whether it gets tasks. */
export type WorkerRow = Omit<WorkerDocument, 'uptime'> & { schedulable: boolean };

/** `GET /api/workers`. */
export interface WorkersResponse {
  summary: FleetSummary;
  disruption: DisruptionDocument;
  page: number;
  size: number;
  /** Workers that match the filter and search, over every page. */
  total: number;
  pages: number;
  workers: WorkerRow[];
  /** Whether actions are allowed (serve was given a token). */
  actions: boolean;
  /** The control plane's clock when the page was read: "last seen" is relative to it. */
  now: number;
}

/** A task as the tasks page lists it: without its history, with why it waits when queued. */
export type TaskRow = Omit<TaskDocument, 'history'> & { waitReason: string | null };

/** `GET /api/workers/:id`. */
export interface WorkerResponse {
  worker: WorkerRow;
  stats: WorkerStats;
  /** Its status stretches from its newest events, oldest first. */
  timeline: StatusStretchView[];
  /** Its newest events, oldest first. */
  events: WorkerStreamEvent[];
  /** Tasks it holds now, then tasks it ran before, newest first. */
  tasks: TaskRow[];
  actions: boolean;
  now: number;
}

/** `GET /api/tasks`. */
export interface TasksResponse {
  counts: Record<TaskStatus, number>;
  page: number;
  size: number;
  total: number;
  pages: number;
  /** In the queue's order: oldest submission first. */
  tasks: TaskRow[];
  actions: boolean;
  now: number;
}

/** `GET /api/tasks/:id`. */
export interface TaskResponse {
  task: TaskDocument;
  waitReason: string | null;
  attempts: AttemptSummary[];
  actions: boolean;
  now: number;
}

/** `GET /api/alerts`: newest first. */
export interface AlertsResponse {
  alerts: Alert[];
}

/** Every error: a sentence that says what happened and what to do. */
export interface ErrorResponse {
  error: string;
}

/** Answer to an action (`POST /api/workers/:id/cordon`, …). */
export interface ActionResponse {
  ok: true;
  message: string;
}

/** `GET /api/events` (server-sent events): the first message of each stream. */
export interface HelloMessage {
  summary: FleetSummary;
  disruption: DisruptionDocument;
  now: number;
}

/** Event `workers`: worker events applied to the read model, with the documents they changed. */
export interface WorkersMessage {
  summary: FleetSummary;
  disruption: DisruptionDocument;
  events: WorkerStreamEvent[];
  workers: WorkerRow[];
  now: number;
}

/** Event `tasks`: task events applied, the tasks they changed and the workers whose allocation moved. */
export interface TasksMessage {
  events: TaskEvent[];
  tasks: TaskRow[];
  workers: WorkerRow[];
  now: number;
}

/** Event `alert`: one alert, as it is published on `alerts.…`. */
export type AlertMessage = Alert;
