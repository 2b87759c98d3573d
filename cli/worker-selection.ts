import { isSchedulable, type WorkerDocument } from '../projections/worker-document.js';
import type { WorkerStatus } from '../streams/contracts/worker-events.js';
import { ConfigError } from './config.js';

type Matcher = (worker: WorkerDocument) => boolean;

/** What `--status` accepts: a status, or whether the scheduler may use the worker, or one of its flags. */
const FILTERS = {
  active: (worker) => worker.status === 'active',
  suspect: (worker) => worker.status === 'suspect',
  inactive: (worker) => worker.status === 'inactive',
  left: (worker) => worker.status === 'left',
  removed: (worker) => worker.status === 'removed',
  schedulable: (worker) => isSchedulable(worker),
  unschedulable: (worker) => !isSchedulable(worker),
  flapping: (worker) => worker.flapping === true,
  cordoned: (worker) => worker.cordoned === true,
  draining: (worker) => Boolean(worker.drain),
} satisfies Record<WorkerStatus, Matcher> & Record<string, Matcher>;

export type WorkerFilter = keyof typeof FILTERS;
export const WORKER_FILTERS = Object.keys(FILTERS) as WorkerFilter[];

export interface WorkerSelection {
  workers: WorkerDocument[];
  /** Removed workers that matched but were left out (no `--all`, no `--status removed`). */
  hiddenRemoved: number;
  /** The filter given, and every worker the read model holds: what an empty selection is out of. */
  filter: WorkerFilter | undefined;
  total: number;
}

/** Checks `--status` before anything is opened: a typo gets the list of what is accepted. */
export function parseWorkerFilter(value: string | undefined): WorkerFilter | undefined {
  if (value === undefined) return undefined;
  if (Object.hasOwn(FILTERS, value)) return value as WorkerFilter;
  throw new ConfigError(
    `--status ${JSON.stringify(value)} is not a status: use one of ${WORKER_FILTERS.join(', ')}`,
  );
}

/**
 * The workers `cloudai workers` shows, in the order given. Removed workers are forgotten by an
 * operator: they are left out unless asked for (`--all`, or `--status removed`).
 */
export function selectWorkers(
  workers: readonly WorkerDocument[],
  filter: WorkerFilter | undefined,
  all: boolean,
): WorkerSelection {
  const matches = filter ? FILTERS[filter] : () => true;
  const showRemoved = all || filter === 'removed';
  const selection: WorkerSelection = { workers: [], hiddenRemoved: 0, filter, total: workers.length };
  for (const worker of workers) {
    if (!matches(worker)) continue;
    if (worker.status === 'removed' && !showRemoved) selection.hiddenRemoved++;
    else selection.workers.push(worker);
  }
  return selection;
}
