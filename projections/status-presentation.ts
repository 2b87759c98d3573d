import type { TaskStatus } from '../streams/contracts/task-events.js';
import type { WorkerStatus } from '../streams/contracts/worker-events.js';
import { formatDuration } from '../streams/util/duration.js';
import type { Resources } from './resources.js';
import { type DrainState, isSchedulable, type WorkerDocument } from './worker-document.js';

/**
 * How a status looks wherever a person reads it: the terminal tables and the web dashboard
 * take their symbols and colours from here, so the two never disagree.
 */

/** The colours a status may take, named as the terminal names them. */
export type StatusTone = 'green' | 'yellow' | 'red' | 'cyan' | 'dim';

export const WORKER_STATUS_SYMBOL: Record<WorkerStatus, string> = {
  active: '●',
  suspect: '◐',
  inactive: '○',
  left: '◌',
  removed: '✕',
};

/** "● active": the symbol, then the word (the symbol alone is not enough for colour-blind readers). */
export const WORKER_STATUS_LABEL = Object.fromEntries(
  Object.entries(WORKER_STATUS_SYMBOL).map(([status, symbol]) => [status, `${symbol} ${status}`]),
) as Record<WorkerStatus, string>;

/** Green, yellow, red: up, late, down; a worker that left or was removed is out of the picture. */
export const WORKER_STATUS_TONE: Record<WorkerStatus, StatusTone> = {
  active: 'green',
  suspect: 'yellow',
  inactive: 'red',
  left: 'dim',
  removed: 'dim',
};

export const TASK_STATUS_TONE: Record<TaskStatus, StatusTone> = {
  queued: 'yellow',
  assigned: 'cyan',
  running: 'green',
  completed: 'dim',
  failed: 'red',
  cancelled: 'dim',
};

type SchedulingFacts = Pick<WorkerDocument, 'status' | 'flapping' | 'cordoned' | 'drain'>;

/** "draining (2 tasks, deadline in 41m00s)": a drain under way, as the tables say it. */
export function describeDrain(drain: DrainState, now: number): string {
  const tasks = drain.remainingTasks === 1 ? '1 task' : `${drain.remainingTasks} tasks`;
  return `draining (${tasks}, deadline in ${formatDuration(drain.deadlineAt - now)})`;
}

/**
 * What keeps an active worker from new tasks (a drain, `cordoned`, `flapping`); none for a
 * schedulable worker. A worker that is not active gets none either: its status says why.
 */
export function unschedulableFlags(worker: SchedulingFacts, now: number): string[] {
  if (isSchedulable(worker)) return [];
  return [
    worker.drain ? describeDrain(worker.drain, now) : '',
    worker.cordoned ? 'cordoned' : '',
    worker.flapping ? 'flapping' : '',
  ].filter(Boolean);
}

/** "yes", or "no" with what keeps the worker from new tasks (`no: cordoned, flapping`). */
export function schedulableLabel(worker: SchedulingFacts, now: number): string {
  if (isSchedulable(worker)) return 'yes';
  const flags = unschedulableFlags(worker, now);
  return flags.length > 0 ? `no: ${flags.join(', ')}` : 'no';
}

/** "2c 4G 1g": cores, memory, GPUs, for a table cell (storage only matters when it runs out). */
export function compactAmounts(resources: Resources): string {
  const trim = (value: number) => (Number.isInteger(value) ? String(value) : value.toFixed(1));
  const gpu = resources.gpu > 0 ? ` ${trim(resources.gpu)}g` : '';
  return `${trim(resources.cpu)}c ${trim(resources.memoryGb)}G${gpu}`;
}
