/**
 * The placement pass and the two policies as they were before placement kept its workers in
 * columns between passes: every pass copies and sorts all workers, and every task builds a
 * candidate object per worker and scores it. Kept for tests only, as the reference the
 * differential test compares the fast implementation with; do not use it elsewhere.
 */
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
} from '../../projections/resources.js';
import type { TaskDocument } from '../../projections/task-document.js';
import { isSchedulable } from '../../projections/worker-document.js';
import type { PassDecision, PlacementWorker, QueueMemory } from '../../scheduler/placement.js';
import type { PlacementChoice, PolicyName } from '../../scheduler/policies/policy.js';
import type { RtsParams } from '../../scheduler/policies/rts-params.js';
import type { TaskSpec } from '../../streams/contracts/task-events.js';

/** A schedulable worker on which the task fits, as a reference policy sees it. */
export interface CandidateWorker {
  workerId: string;
  capacity: Resources;
  allocated: Resources;
  /** capacity − allocated. */
  free: Resources;
}

export interface ReferencePolicy {
  readonly name: PolicyName;
  choose(task: TaskSpec, candidates: readonly CandidateWorker[], now: number): PlacementChoice | undefined;
}

export interface ReferencePassInput {
  queue: readonly TaskDocument[];
  workers: readonly PlacementWorker[];
  isExcluded: (taskId: string, workerId: string) => boolean;
  policy: ReferencePolicy;
  now: number;
  bypassLimit: number;
  memory: QueueMemory;
}

/**
 * One pass over the queue, oldest task first: each is placed by the policy on a schedulable
 * worker (`isSchedulable`: active, not flapping, not cordoned) where all its requests fit
 * (counting what this pass already placed), or waits with the reason. Smaller tasks may pass
 * a task that does not fit yet (backfilling), until it has been passed `bypassLimit` times and
 * reserves a worker. Pure apart from updating `memory`.
 */
export function referencePlanPass(input: ReferencePassInput): PassDecision[] {
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

function forgetStaleMemory(input: ReferencePassInput, schedulable: Map<string, PlacementWorker>): void {
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

// --- the policies as they were ---

interface RtsScore {
  workerId: string;
  runtimeS: number;
  overrunS: number;
  load: number;
  risk: number;
}

function workerLoad(capacity: Resources, allocated: Resources): number {
  const cpuWeight = capacity.cpu;
  const memoryWeight = capacity.memoryGb / 10;
  const gpuWeight = capacity.gpu * 2;
  const total = cpuWeight + memoryWeight + gpuWeight;
  if (total === 0) return 0;
  return (
    (cpuWeight * share(allocated.cpu, capacity.cpu) +
      memoryWeight * share(allocated.memoryGb, capacity.memoryGb) +
      gpuWeight * share(allocated.gpu, capacity.gpu)) /
    total
  );
}

function share(used: number, of: number): number {
  return of > 0 ? used / of : 0;
}

function pressure(requested: number, free: number): number {
  if (requested === 0) return 0;
  return free > 0 ? requested / free : 1;
}

function rtsScorer(
  task: TaskSpec,
  now: number,
  params: RtsParams,
): (candidate: CandidateWorker, into: RtsScore) => RtsScore {
  const tau = params.tauSeconds[task.type];
  const [theta1, theta2, theta3, theta4] = params.theta;
  const startS = Math.max(now, task.submittedAt) / 1_000;
  const deadlineS = task.submittedAt / 1_000 + task.k * tau;
  const affinities = params.affinity[task.type];
  const { alpha, beta, penalty } = params;
  return (candidate, into) => {
    const load = workerLoad(candidate.capacity, candidate.allocated);
    const runtimeS =
      tau *
      (1 +
        theta1 * pressure(task.cpu, candidate.free.cpu) +
        theta2 * pressure(task.memoryGb, candidate.free.memoryGb) +
        theta3 * pressure(task.gpu, candidate.free.gpu) +
        theta4 * load);
    const overrunS = Math.max(0, startS + runtimeS - deadlineS);
    const affinity = affinities?.[candidate.workerId] ?? 0;
    into.workerId = candidate.workerId;
    into.runtimeS = runtimeS;
    into.overrunS = overrunS;
    into.load = load;
    into.risk = alpha * overrunS + beta * load - affinity + (penalty[candidate.workerId] ?? 0);
    return into;
  };
}

function emptyScore(): RtsScore {
  return { workerId: '', runtimeS: 0, overrunS: 0, load: 0, risk: 0 };
}

function lessRisky(a: RtsScore, b: RtsScore): number {
  return a.risk - b.risk || a.runtimeS - b.runtimeS || (a.workerId < b.workerId ? -1 : 1);
}

export function referenceRtsPolicy(params: RtsParams, fallback: ReferencePolicy): ReferencePolicy {
  return {
    name: 'rts',
    choose(task, candidates, now) {
      const score = rtsScorer(task, now, params);
      let best = emptyScore();
      let scratch = emptyScore();
      let found = false;
      for (const candidate of candidates) {
        score(candidate, scratch);
        if (Number.isFinite(scratch.risk) && (!found || lessRisky(scratch, best) < 0)) {
          [best, scratch] = [scratch, best];
          found = true;
        }
      }
      if (found) return { workerId: best.workerId, policy: 'rts' };
      return fallback.choose(task, candidates, now);
    },
  };
}

export function referenceRoundRobinPolicy(): ReferencePolicy {
  const cursor: { lastWorkerId: string | undefined } = { lastWorkerId: undefined };
  return {
    name: 'round-robin',
    choose(_task, candidates) {
      const ids = candidates.map((candidate) => candidate.workerId).sort();
      const last = cursor.lastWorkerId;
      const workerId = ids.find((id) => last === undefined || id > last) ?? ids[0];
      if (workerId === undefined) return undefined;
      cursor.lastWorkerId = workerId;
      return { workerId, policy: 'round-robin' };
    },
  };
}
