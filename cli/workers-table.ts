import { NO_RESOURCES, type Resources, subtractResources } from '../projections/resources.js';
import type { WorkerDocument } from '../projections/worker-document.js';
import type { WorkerStatus } from '../streams/worker-events.js';
import { type Colors, formatDuration, renderTable } from './terminal.js';

const HEADER = [
  'ID',
  'STATUS',
  'LAST SEEN',
  'ADDRESS',
  'CPU',
  'MEM',
  'GPU',
  'ALLOCATED',
  'FREE',
  'TASKS',
  'SINCE',
] as const;
const STATUS_COLUMN = HEADER.indexOf('STATUS');

const STATUS_LABEL: Record<WorkerStatus, string> = {
  active: '● active',
  suspect: '◐ suspect',
  inactive: '○ inactive',
  removed: '✕ removed',
};

/** The `cloudai workers` table: one row per worker, in the order given (the read model's, by id). */
export function renderWorkersTable(workers: readonly WorkerDocument[], now: number, color: Colors): string {
  if (workers.length === 0)
    return 'no workers yet: start one with `cloudai worker --id ID --cpu N --memory GB`';
  const rows = workers.map((worker) => [
    worker.workerId,
    STATUS_LABEL[worker.status],
    `${formatDuration(now - worker.lastHeartbeatAt)} ago`,
    worker.address || '-',
    share(worker.usage.cpu, `${trim(worker.capacity.cpu)}`),
    share(worker.usage.memory, `${trim(worker.capacity.memoryGb)}G`),
    worker.capacity.gpu > 0 ? share(worker.usage.gpu, `${trim(worker.capacity.gpu)}`) : '-',
    amounts(allocatedOf(worker)),
    amounts(subtractResources(worker.capacity, allocatedOf(worker))),
    tasksOf(worker),
    formatDuration(now - worker.statusSince),
  ]);
  const paint: Record<WorkerStatus, (text: string) => string> = {
    active: color.green,
    suspect: color.yellow,
    inactive: color.red,
    removed: color.dim,
  };
  const table = renderTable(HEADER, rows, (row, column, padded) => {
    const status = workers[row]?.status;
    return column === STATUS_COLUMN && status ? paint[status](padded) : padded;
  });
  const counts: Record<WorkerStatus, number> = { active: 0, suspect: 0, inactive: 0, removed: 0 };
  for (const worker of workers) counts[worker.status]++;
  return `${table}\n\n${workers.length} workers: ${counts.active} active, ${counts.inactive} inactive`;
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
