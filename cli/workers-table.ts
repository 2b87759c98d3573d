import type { WorkerDocument } from '../projections/worker-document.js';
import type { WorkerStatus } from '../streams/worker-events.js';
import { type Colors, formatDuration, renderTable } from './terminal.js';

const HEADER = ['ID', 'STATUS', 'LAST SEEN', 'ADDRESS', 'CPU', 'MEM', 'GPU', 'SINCE'] as const;
const STATUS_COLUMN = HEADER.indexOf('STATUS');

const STATUS_LABEL: Record<WorkerStatus, string> = { active: '● active', inactive: '○ inactive' };

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
    formatDuration(now - worker.statusSince),
  ]);
  const paint: Record<WorkerStatus, (text: string) => string> = { active: color.green, inactive: color.red };
  const table = renderTable(HEADER, rows, (row, column, padded) => {
    const status = workers[row]?.status;
    return column === STATUS_COLUMN && status ? paint[status](padded) : padded;
  });
  const counts = { active: 0, inactive: 0 };
  for (const worker of workers) counts[worker.status]++;
  return `${table}\n\n${workers.length} workers: ${counts.active} active, ${counts.inactive} inactive`;
}

function share(fraction: number, capacity: string): string {
  return `${Math.round(fraction * 100)}% of ${capacity}`;
}

function trim(value: number): string {
  return Number.isInteger(value) ? String(value) : value.toFixed(1);
}
