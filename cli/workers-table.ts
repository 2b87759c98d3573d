import type { DisruptionDocument } from '../projections/disruption-document.js';
import { NO_RESOURCES, type Resources, subtractResources } from '../projections/resources.js';
import {
  schedulableLabel,
  WORKER_STATUS_LABEL,
  WORKER_STATUS_TONE,
} from '../projections/status-presentation.js';
import { isSchedulable, type WorkerDocument } from '../projections/worker-document.js';
import type { WorkerStatus } from '../streams/contracts/worker-events.js';
import { type Colors, countOf, formatClock, formatDuration, renderTable } from './terminal.js';

const HEADER = [
  'ID',
  'STATUS',
  'SCHEDULABLE',
  'LAST SEEN',
  'ADDRESS',
  'RUNTIME',
  'CPU',
  'MEM',
  'GPU',
  'ALLOCATED',
  'FREE',
  'TASKS',
  'SINCE',
] as const;
const STATUS_COLUMN = HEADER.indexOf('STATUS');
const SCHEDULABLE_COLUMN = HEADER.indexOf('SCHEDULABLE');

export const STATUS_LABEL = WORKER_STATUS_LABEL;

/** Each status in its colour (`WORKER_STATUS_TONE`, shared with the web dashboard). */
export function statusPainter(color: Colors): Record<WorkerStatus, (text: string) => string> {
  return {
    active: color[WORKER_STATUS_TONE.active],
    suspect: color[WORKER_STATUS_TONE.suspect],
    inactive: color[WORKER_STATUS_TONE.inactive],
    left: color[WORKER_STATUS_TONE.left],
    removed: color[WORKER_STATUS_TONE.removed],
  };
}

/** What the table says besides its rows. */
export interface WorkersTableContext {
  /** Removed workers left out of the rows (shown with `--all`). */
  hiddenRemoved?: number;
  /** The `--status` given, and how many workers the read model holds in all. */
  filter?: string | undefined;
  total?: number;
  disruption?: DisruptionDocument;
}

/** Why the table is empty: nothing stored yet, a filter that matches none, or only removed workers. */
function noWorkersShown({ hiddenRemoved = 0, filter, total = hiddenRemoved }: WorkersTableContext): string {
  const removed = hiddenRemoved > 0 ? ` (${hiddenRemoved} removed not shown: --all shows them)` : '';
  if (total === 0) return 'no workers yet: start one with `cloudai worker --id ID --cpu N --memory GB`';
  if (filter !== undefined) {
    return `no worker matches --status ${filter}${removed}; ${countOf(total, 'worker')} in all: \`cloudai workers --all\` lists them`;
  }
  return `no workers to show${removed}`;
}

/** The `cloudai workers` table: one row per worker, in the order given (the read model's, by id). */
export function renderWorkersTable(
  workers: readonly WorkerDocument[],
  now: number,
  color: Colors,
  context: WorkersTableContext = {},
): string {
  const banner = context.disruption?.active
    ? `${color.yellow(disruptionBanner(context.disruption, now))}\n\n`
    : '';
  const hidden = context.hiddenRemoved ?? 0;
  if (workers.length === 0) return `${banner}${noWorkersShown(context)}`;
  const rows = workers.map((worker) => [
    worker.workerId,
    STATUS_LABEL[worker.status],
    schedulableLabel(worker, now),
    `${formatDuration(now - worker.lastHeartbeatAt)} ago`,
    worker.address || '-',
    // Where its tasks run; a worker from before runtimes (or a simulated one) says nothing.
    worker.capacity.runtime ?? '-',
    share(worker.usage.cpu, `${trim(worker.capacity.cpu)}`),
    share(worker.usage.memory, `${trim(worker.capacity.memoryGb)}G`),
    worker.capacity.gpu > 0 ? share(worker.usage.gpu, `${trim(worker.capacity.gpu)}`) : '-',
    amounts(allocatedOf(worker)),
    amounts(subtractResources(worker.capacity, allocatedOf(worker))),
    tasksOf(worker),
    formatDuration(now - worker.statusSince),
  ]);
  const paint = statusPainter(color);
  const table = renderTable(HEADER, rows, (row, column, padded) => {
    const worker = workers[row];
    if (!worker) return padded;
    if (column === STATUS_COLUMN) return paint[worker.status](padded);
    // An active worker kept from new tasks is worth a second look.
    if (column === SCHEDULABLE_COLUMN && worker.status === 'active' && !isSchedulable(worker))
      return color.yellow(padded);
    return padded;
  });
  return `${banner}${table}\n\n${summarize(workers, hidden)}`;
}

/**
 * "4 workers: 2 active, 1 suspect, 1 inactive; 1 schedulable, 1 cordoned, 1 flapping".
 * Left ones are counted when there are any; removed ones when shown, and said to be left out
 * when they are.
 */
function summarize(workers: readonly WorkerDocument[], hiddenRemoved: number): string {
  const counts: Record<WorkerStatus, number> = { active: 0, suspect: 0, inactive: 0, left: 0, removed: 0 };
  let schedulable = 0;
  let cordoned = 0;
  let flapping = 0;
  let draining = 0;
  for (const worker of workers) {
    counts[worker.status]++;
    if (worker.drain) draining++;
    if (isSchedulable(worker)) schedulable++;
    if (worker.cordoned) cordoned++;
    if (worker.flapping) flapping++;
  }
  const statuses = [`${counts.active} active`, `${counts.suspect} suspect`, `${counts.inactive} inactive`];
  if (counts.left > 0) statuses.push(`${counts.left} left`);
  if (counts.removed > 0) statuses.push(`${counts.removed} removed`);
  const flags = [`${schedulable} schedulable`];
  if (draining > 0) flags.push(`${draining} draining`);
  if (cordoned > 0) flags.push(`${cordoned} cordoned`);
  if (flapping > 0) flags.push(`${flapping} flapping`);
  const hidden = hiddenRemoved > 0 ? ` (${hiddenRemoved} removed not shown: --all shows them)` : '';
  const noun = workers.length === 1 ? 'worker' : 'workers';
  return `${workers.length} ${noun}: ${statuses.join(', ')}; ${flags.join(', ')}${hidden}`;
}

/** While the fleet doubts its own view, every reader of the table must know. */
function disruptionBanner(disruption: DisruptionDocument, now: number): string {
  const since = disruption.since ?? now;
  return (
    `disruption mode since ${formatClock(since)} (${formatDuration(now - since)}; ` +
    `${disruption.unhealthyWorkers} of ${disruption.consideredWorkers} workers unhealthy when it started): ` +
    'no worker is declared inactive; end it with `cloudai disruption end`'
  );
}

/** A read model written before tasks existed has no allocation: nothing is allocated there. */
function allocatedOf(worker: WorkerDocument): Resources {
  return worker.allocated ?? NO_RESOURCES;
}

/** "2c 4G 1g": cores, memory, GPUs (storage only matters when it runs out, and widens every row). */
function amounts(resources: Resources): string {
  const gpu = resources.gpu > 0 ? ` ${trim(resources.gpu)}g` : '';
  return `${trim(resources.cpu)}c ${trim(resources.memoryGb)}G${gpu}`;
}

/** How many tasks hold resources there, and which (the first few). */
function tasksOf(worker: WorkerDocument): string {
  const ids = worker.taskIds ?? [];
  if (ids.length === 0) return '-';
  const shown = ids.slice(0, 2).join(',');
  return `${ids.length} (${shown}${ids.length > 2 ? ',…' : ''})`;
}

function share(fraction: number, capacity: string): string {
  return `${Math.round(fraction * 100)}% of ${capacity}`;
}

function trim(value: number): string {
  return Number.isInteger(value) ? String(value) : value.toFixed(1);
}
