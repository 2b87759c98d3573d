import {
  addResources,
  describeAmount,
  describeResources,
  fitsWithin,
  RESOURCE_KINDS,
  type Resources,
  requestsOf,
  shortfalls,
  subtractResources,
} from '../projections/resources.js';
import type { TaskDocument } from '../projections/task-document.js';
import { type DrainState, isSchedulable } from '../projections/worker-document.js';
import type { WorkerStatus } from '../streams/contracts/worker-events.js';
import type { CandidateWorker, PlacementPolicy, PolicyName } from './policies/policy.js';

/** A worker as a placement pass sees it. */
export interface PlacementWorker {
  workerId: string;
  status: WorkerStatus;
  /** Came back from inactive too often lately (no new tasks until it is stable). */
  flapping: boolean;
  /** An operator said no new tasks. */
  cordoned: boolean;
  /** An operator drains it: no new tasks. */
  drain?: DrainState | null;
  capacity: Resources;
  /** Held by its assigned and running tasks, and by placements still being written. */
  allocated: Resources;
}

/**
 * What the queue remembers between passes, so that a large task cannot be overtaken forever:
 * how often younger tasks were placed while it waited, and the worker it has reserved once
 * that happened `bypassLimit` times. Younger tasks are not placed on a reserved worker, so it
 * drains until the large task fits.
 */
export interface QueueMemory {
  bypassed: Map<string, number>;
  /** taskId → reserved workerId. */
  reservations: Map<string, string>;
}

export function emptyQueueMemory(): QueueMemory {
  return { bypassed: new Map(), reservations: new Map() };
}

export interface PassInput {
  /** Queued tasks not being acted on, oldest first. */
  queue: readonly TaskDocument[];
  workers: readonly PlacementWorker[];
  /** Workers that recently failed to acknowledge this task. */
  isExcluded: (taskId: string, workerId: string) => boolean;
  policy: PlacementPolicy;
  now: number;
  bypassLimit: number;
  memory: QueueMemory;
}

export type PassDecision =
  | { kind: 'assign'; task: TaskDocument; workerId: string; policy: PolicyName }
  | { kind: 'wait'; task: TaskDocument; reason: string };

/**
 * One pass over the queue, oldest task first: each is placed by the policy on a schedulable
 * worker (`isSchedulable`: active, not flapping, not cordoned) where all its requests fit
 * (counting what this pass already placed), or waits with the reason. Smaller tasks may pass
 * a task that does not fit yet (backfilling), until it has been passed `bypassLimit` times and
 * reserves a worker. Pure apart from updating `memory`.
 */
export function planPass(input: PassInput): PassDecision[] {
  const { memory } = input;
  const schedulable = new Map<string, PlacementWorker>();
  for (const worker of [...input.workers].sort(byId)) {
    if (isSchedulable(worker)) schedulable.set(worker.workerId, { ...worker });
  }
  forgetStaleMemory(input, schedulable);
  const reservedBy = new Map<string, string>();
  for (const [taskId, workerId] of memory.reservations) reservedBy.set(workerId, taskId);

  const decisions: PassDecision[] = [];
  const waitingOlder: string[] = [];
  for (const task of input.queue) {
    const requests = requestsOf(task);
    // One walk over the workers (in id order) instead of a chain of filters and copies per task.
    const usable: PlacementWorker[] = [];
    const candidates: CandidateWorker[] = [];
    for (const worker of schedulable.values()) {
      if (input.isExcluded(task.taskId, worker.workerId)) continue;
      usable.push(worker);
      if ((reservedBy.get(worker.workerId) ?? task.taskId) !== task.taskId) continue;
      const candidate = toCandidate(worker);
      if (fitsWithin(requests, candidate.free)) candidates.push(candidate);
    }
    const choice = candidates.length > 0 ? input.policy.choose(task, candidates, input.now) : undefined;
    const chosen = choice && schedulable.get(choice.workerId);
    if (choice && chosen) {
      chosen.allocated = addResources(chosen.allocated, requests);
      decisions.push({ kind: 'assign', task, workerId: choice.workerId, policy: choice.policy });
      memory.bypassed.delete(task.taskId);
      const reserved = memory.reservations.get(task.taskId);
      if (reserved !== undefined) reservedBy.delete(reserved);
      memory.reservations.delete(task.taskId);
      for (const olderId of waitingOlder)
        memory.bypassed.set(olderId, (memory.bypassed.get(olderId) ?? 0) + 1);
      continue;
    }
    // Only a task that an empty schedulable worker could take is being overtaken; one too large for
    // every worker would reserve nothing useful.
    const wouldFitEmpty = usable.filter((worker) => fitsWithin(requests, worker.capacity));
    if (wouldFitEmpty.length > 0) {
      waitingOlder.push(task.taskId);
      if (
        (memory.bypassed.get(task.taskId) ?? 0) >= input.bypassLimit &&
        !memory.reservations.has(task.taskId)
      ) {
        const reservable = wouldFitEmpty.filter((worker) => !reservedBy.has(worker.workerId));
        const target = reservable.sort((a, b) => closeness(b, requests) - closeness(a, requests))[0];
        if (target) {
          memory.reservations.set(task.taskId, target.workerId);
          reservedBy.set(target.workerId, task.taskId);
        }
      }
    }
    const reason = explainWait(task, requests, {
      workers: input.workers,
      schedulable,
      usable,
      wouldFitEmpty,
      reservedBy,
      ownReservation: memory.reservations.get(task.taskId),
    });
    decisions.push({ kind: 'wait', task, reason });
  }
  return decisions;
}

function forgetStaleMemory(input: PassInput, schedulable: Map<string, PlacementWorker>): void {
  const queued = new Map(input.queue.map((task) => [task.taskId, task]));
  for (const taskId of input.memory.bypassed.keys()) {
    if (!queued.has(taskId)) input.memory.bypassed.delete(taskId);
  }
  for (const [taskId, workerId] of input.memory.reservations) {
    const worker = schedulable.get(workerId);
    const task = queued.get(taskId);
    if (!task || !worker || !fitsWithin(requestsOf(task), worker.capacity))
      input.memory.reservations.delete(taskId);
  }
}

function toCandidate(worker: PlacementWorker): CandidateWorker {
  return {
    workerId: worker.workerId,
    capacity: worker.capacity,
    allocated: worker.allocated,
    free: subtractResources(worker.capacity, worker.allocated),
  };
}

/** How near a worker is to fitting the request: the smallest free/requested ratio over what is requested. */
function closeness(worker: PlacementWorker, requests: Resources): number {
  const free = subtractResources(worker.capacity, worker.allocated);
  const ratios = RESOURCE_KINDS.filter((kind) => requests[kind] > 0).map(
    (kind) => free[kind] / requests[kind],
  );
  return ratios.length > 0 ? Math.min(...ratios) : 1;
}

function byId(a: PlacementWorker, b: PlacementWorker): number {
  return a.workerId < b.workerId ? -1 : a.workerId > b.workerId ? 1 : 0;
}

/** What the pass already knows about a task that waits. */
interface WaitContext {
  workers: readonly PlacementWorker[];
  schedulable: ReadonlyMap<string, PlacementWorker>;
  /** The schedulable workers it may be offered to. */
  usable: readonly PlacementWorker[];
  /** The usable workers it would fit on empty. */
  wouldFitEmpty: readonly PlacementWorker[];
  /** workerId → the task it is reserved for. */
  reservedBy: ReadonlyMap<string, string>;
  /** The worker reserved for this task, if any. */
  ownReservation: string | undefined;
}

/** Why a task waits, in the words `cloudai task submit` prints after "queued:". */
function explainWait(task: TaskDocument, requests: Resources, context: WaitContext): string {
  const { workers, schedulable, usable, wouldFitEmpty: large, reservedBy, ownReservation } = context;
  if (workers.length === 0) return 'no worker has registered yet';
  if (schedulable.size === 0) return `no schedulable worker: ${countByState(workers)}`;
  const heldBack = heldBackWithRoom(workers, requests);
  if (usable.length === 0) {
    return `no schedulable worker acknowledged it (${[...schedulable.keys()].join(', ')}); it is offered again when a worker returns or after a pause${heldBack}`;
  }
  const draining = ownReservation
    ? `; worker ${ownReservation} is reserved for it and takes no newer tasks`
    : '';
  if (large.length === 0) {
    const kinds = RESOURCE_KINDS.filter((kind) =>
      usable.every((worker) => worker.capacity[kind] < requests[kind]),
    );
    if (kinds.length === 0)
      return `no schedulable worker is large enough for ${describeResources(requests)} at once${heldBack}`;
    const biggest = kinds.map((kind) => {
      const top = maxBy(usable, (worker) => worker.capacity[kind]);
      return `${describeAmount(kind, top.capacity[kind])} on ${top.workerId}`;
    });
    return `no schedulable worker is large enough for ${describeResources(requests, kinds)} (largest: ${biggest.join(', ')})${heldBack}`;
  }
  const blockedByReservation = large.filter((worker) => {
    const holder = reservedBy.get(worker.workerId);
    return holder !== undefined && holder !== task.taskId;
  });
  const open = large.filter((worker) => !blockedByReservation.includes(worker));
  if (open.length === 0) {
    const holders = blockedByReservation.map(
      (worker) => `${worker.workerId} for ${reservedBy.get(worker.workerId)}`,
    );
    return `the workers large enough are reserved for older tasks (${holders.join(', ')})${heldBack}`;
  }
  const frees = open.map((worker) => ({
    worker,
    free: subtractResources(worker.capacity, worker.allocated),
  }));
  const short = RESOURCE_KINDS.filter((kind) =>
    frees.every(({ free }) => shortfalls(requests, free).includes(kind)),
  );
  if (short.length > 0) {
    const most = short.map((kind) => {
      const top = maxBy(frees, ({ free }) => free[kind]);
      return `${describeAmount(kind, top.free[kind])} on ${top.worker.workerId}`;
    });
    return `no schedulable worker has ${describeResources(requests, short)} free (most free: ${most.join(', ')})${draining}${heldBack}`;
  }
  return `no schedulable worker has ${describeResources(requests)} free at once${draining}${heldBack}`;
}

/** What keeps a worker from new tasks, in the order the wait reasons name them. */
type HeldBackState = 'suspect' | 'draining' | 'cordoned' | 'flapping' | 'inactive' | 'left' | 'removed';
const HELD_BACK_STATES: readonly HeldBackState[] = [
  'suspect',
  'draining',
  'cordoned',
  'flapping',
  'inactive',
  'left',
  'removed',
];

/** The word for an unschedulable worker: its liveness first (a suspect cordoned worker is "suspect"). */
function heldBackStateOf(worker: PlacementWorker): HeldBackState | undefined {
  if (worker.status !== 'active') return worker.status;
  if (worker.drain) return 'draining';
  if (worker.cordoned) return 'cordoned';
  if (worker.flapping) return 'flapping';
  return undefined;
}

/** "2 suspect, 1 cordoned, 3 inactive": the unschedulable workers by what holds them back. */
function countByState(workers: readonly PlacementWorker[]): string {
  const counts = new Map<HeldBackState, number>();
  for (const worker of workers) {
    const state = heldBackStateOf(worker);
    if (state) counts.set(state, (counts.get(state) ?? 0) + 1);
  }
  return HELD_BACK_STATES.filter((state) => counts.has(state))
    .map((state) => `${counts.get(state)} ${state}`)
    .join(', ');
}

/** Names shown before "and N more", so a large fleet keeps the reason on one line. */
const MAX_NAMED = 3;

/**
 * "; kim (suspect), tessa (cordoned) have room but take no new tasks": the live workers that
 * could run the task now but are held back, when there are any; empty otherwise.
 */
function heldBackWithRoom(workers: readonly PlacementWorker[], requests: Resources): string {
  const named: string[] = [];
  let count = 0;
  for (const worker of workers) {
    const state = heldBackStateOf(worker);
    if (state === undefined || state === 'inactive' || state === 'left' || state === 'removed') continue;
    if (!fitsWithin(requests, subtractResources(worker.capacity, worker.allocated))) continue;
    count++;
    if (named.length < MAX_NAMED) named.push(`${worker.workerId} (${state})`);
  }
  if (count === 0) return '';
  const more = count > named.length ? ` and ${count - named.length} more` : '';
  return `; ${named.join(', ')}${more} ${count === 1 ? 'has room but takes' : 'have room but take'} no new tasks`;
}

function maxBy<T>(items: readonly T[], value: (item: T) => number): T {
  return items.reduce((best, item) => (value(item) > value(best) ? item : best));
}
