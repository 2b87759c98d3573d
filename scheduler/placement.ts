import {
  describeAmount,
  describeResources,
  RESOURCE_KINDS,
  type ResourceKind,
  type Resources,
  requestsOf,
} from '../projections/resources.js';
import type { TaskDocument } from '../projections/task-document.js';
import { type DrainState, isSchedulable } from '../projections/worker-document.js';
import type { WorkerStatus } from '../streams/contracts/worker-events.js';
import type { Candidates, PlacementPolicy, PolicyName, ResourceColumns } from './policies/policy.js';

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

// Sums of fractional requests (0.1 + 0.2) must not make an exact fit look one ulp too big;
// the same tolerance as `fitsWithin`, spelled out in the loops that cannot call it per worker.
const EPSILON = 1e-9;

const FIRST_SLOTS = 64;
/** Task numbers of `Scratch.excludedFor` start again from 1 after this (the largest Int32). */
const MAX_TASK_NUMBER = 0x7fff_ffff;

function resourceColumns(length: number, from?: ResourceColumns): ResourceColumns {
  const column = (old: Float64Array | undefined) => {
    const grown = new Float64Array(length);
    if (old) grown.set(old);
    return grown;
  };
  return {
    cpu: column(from?.cpu),
    memoryGb: column(from?.memoryGb),
    storageGb: column(from?.storageGb),
    gpu: column(from?.gpu),
  };
}

function requestsKey(requests: Resources): string {
  return `${requests.cpu},${requests.memoryGb},${requests.storageGb},${requests.gpu}`;
}

/** `fitsWithin(requests, the amounts in one slot of the columns)`, without building them. */
function fitsAt(requests: Resources, columns: ResourceColumns, slot: number): boolean {
  return (
    requests.cpu <= (columns.cpu[slot] as number) + EPSILON &&
    requests.memoryGb <= (columns.memoryGb[slot] as number) + EPSILON &&
    requests.storageGb <= (columns.storageGb[slot] as number) + EPSILON &&
    requests.gpu <= (columns.gpu[slot] as number) + EPSILON
  );
}

function writeAmounts(columns: ResourceColumns, slot: number, amounts: Resources): void {
  columns.cpu[slot] = amounts.cpu;
  columns.memoryGb[slot] = amounts.memoryGb;
  columns.storageGb[slot] = amounts.storageGb;
  columns.gpu[slot] = amounts.gpu;
}

function grownInts(old: Int32Array, length: number): Int32Array<ArrayBuffer> {
  const grown = new Int32Array(length);
  grown.set(old);
  return grown;
}

function grownBytes(old: Uint8Array, length: number): Uint8Array<ArrayBuffer> {
  const grown = new Uint8Array(length);
  grown.set(old);
  return grown;
}

/**
 * The workers a placement pass chooses among, kept between passes: the scheduler updates the
 * few that changed (`upsert`) instead of handing every pass a fresh copy of the fleet. Each
 * worker has a slot in columns of numbers, and the slots are kept in worker-id order, the
 * order in which a pass offers tasks to workers.
 */
export class PlacementWorkers {
  private readonly slotById = new Map<string, number>();
  /** Worker id per slot. */
  readonly workerIds: string[] = [];
  private readonly statuses: WorkerStatus[] = [];
  private schedulable = new Uint8Array(FIRST_SLOTS);
  private flapping = new Uint8Array(FIRST_SLOTS);
  private cordoned = new Uint8Array(FIRST_SLOTS);
  private draining = new Uint8Array(FIRST_SLOTS);
  capacity = resourceColumns(FIRST_SLOTS);
  /** As upserted. */
  private allocated = resourceColumns(FIRST_SLOTS);
  /**
   * What a pass works with: `allocated` plus what the pass has placed so far, and capacity
   * minus that (never below zero). Equal to `allocated` and its free share between passes.
   */
  passAllocated = resourceColumns(FIRST_SLOTS);
  free = resourceColumns(FIRST_SLOTS);
  /** The schedulable workers by capacity and (pass) allocation: the groups a pass may offer a task to. */
  private readonly groups = new Map<string, WorkerGroup>();
  /** How many workers take new tasks. */
  schedulableCount = 0;
  private readonly groupOfSlot: (WorkerGroup | undefined)[] = [];
  /** Every slot, in worker-id order, but for those in `unordered`. */
  private order = new Int32Array(0);
  /** Slots added since `order` was last brought up to date. */
  private unordered: number[] = [];

  static of(workers: Iterable<PlacementWorker>): PlacementWorkers {
    const table = new PlacementWorkers();
    for (const worker of workers) table.upsert(worker);
    return table;
  }

  get size(): number {
    return this.workerIds.length;
  }

  /** Adds a worker or replaces what is known of it (its fields are copied). */
  upsert(worker: PlacementWorker): void {
    let slot = this.slotById.get(worker.workerId);
    if (slot === undefined) {
      slot = this.workerIds.length;
      if (slot === this.flapping.length) this.grow(slot * 2);
      this.slotById.set(worker.workerId, slot);
      this.workerIds.push(worker.workerId);
      this.statuses.push(worker.status);
      this.groupOfSlot.push(undefined);
      this.unordered.push(slot);
    }
    this.statuses[slot] = worker.status;
    const schedulable = isSchedulable(worker) ? 1 : 0;
    this.schedulableCount += schedulable - (this.schedulable[slot] as number);
    this.schedulable[slot] = schedulable;
    this.flapping[slot] = worker.flapping ? 1 : 0;
    this.cordoned[slot] = worker.cordoned ? 1 : 0;
    this.draining[slot] = worker.drain ? 1 : 0;
    writeAmounts(this.capacity, slot, worker.capacity);
    writeAmounts(this.allocated, slot, worker.allocated);
    this.resetPassState(slot);
  }

  slotOf(workerId: string): number | undefined {
    return this.slotById.get(workerId);
  }

  statusOf(slot: number): WorkerStatus {
    return this.statuses[slot] as WorkerStatus;
  }

  /** `isSchedulable` of the worker in `slot`: active, not flapping, not cordoned, not draining. */
  takesNewTasks(slot: number): boolean {
    return this.schedulable[slot] === 1;
  }

  /** What keeps a worker from new tasks: its liveness first (a suspect cordoned worker is "suspect"). */
  heldBackStateOf(slot: number): HeldBackState | undefined {
    const status = this.statuses[slot] as WorkerStatus;
    if (status !== 'active') return status;
    if (this.draining[slot] === 1) return 'draining';
    if (this.cordoned[slot] === 1) return 'cordoned';
    if (this.flapping[slot] === 1) return 'flapping';
    return undefined;
  }

  /** Every slot in worker-id order. */
  slotsInIdOrder(): Int32Array {
    if (this.unordered.length > 0) {
      const ids = this.workerIds;
      const added = this.unordered.sort((a, b) => compareIds(ids[a] as string, ids[b] as string));
      const merged = new Int32Array(this.order.length + added.length);
      let fromOld = 0;
      let fromAdded = 0;
      for (let index = 0; index < merged.length; index++) {
        const old = this.order[fromOld];
        const next = added[fromAdded];
        const takeOld =
          old !== undefined &&
          (next === undefined || compareIds(ids[old] as string, ids[next] as string) <= 0);
        merged[index] = takeOld ? old : (next as number);
        if (takeOld) fromOld++;
        else fromAdded++;
      }
      this.order = merged;
      this.unordered = [];
    }
    return this.order;
  }

  /** Schedulable workers grouped by equal capacity and allocation. */
  schedulableGroups(): IterableIterator<WorkerGroup> {
    return this.groups.values();
  }

  get groupCount(): number {
    return this.groups.size;
  }

  /** Counts a placement of `requests` on the worker in `slot`, until `resetPassState`. */
  placeDuringPass(slot: number, requests: Resources): void {
    const { cpu, memoryGb, storageGb, gpu } = this.passAllocated;
    this.setPassAllocated(slot, {
      cpu: (cpu[slot] as number) + requests.cpu,
      memoryGb: (memoryGb[slot] as number) + requests.memoryGb,
      storageGb: (storageGb[slot] as number) + requests.storageGb,
      gpu: (gpu[slot] as number) + requests.gpu,
    });
  }

  /** Forgets what a pass placed on the worker in `slot`. */
  resetPassState(slot: number): void {
    const { cpu, memoryGb, storageGb, gpu } = this.allocated;
    this.setPassAllocated(slot, {
      cpu: cpu[slot] as number,
      memoryGb: memoryGb[slot] as number,
      storageGb: storageGb[slot] as number,
      gpu: gpu[slot] as number,
    });
  }

  /** The pass's allocation of a worker, its free share (capacity − allocated, never below zero), and its group. */
  private setPassAllocated(slot: number, allocated: Resources): void {
    const { capacity } = this;
    writeAmounts(this.passAllocated, slot, allocated);
    writeAmounts(this.free, slot, {
      cpu: Math.max(0, (capacity.cpu[slot] as number) - allocated.cpu),
      memoryGb: Math.max(0, (capacity.memoryGb[slot] as number) - allocated.memoryGb),
      storageGb: Math.max(0, (capacity.storageGb[slot] as number) - allocated.storageGb),
      gpu: Math.max(0, (capacity.gpu[slot] as number) - allocated.gpu),
    });
    this.regroup(slot);
  }

  private regroup(slot: number): void {
    const key = this.schedulable[slot] === 1 ? this.groupKey(slot) : undefined;
    const old = this.groupOfSlot[slot];
    if (old?.key === key) return;
    if (old) {
      old.members.splice(this.positionIn(this.membersOf(old), slot), 1);
      if (old.members.length === 0) this.groups.delete(old.key);
    }
    this.groupOfSlot[slot] = undefined;
    if (key === undefined) return;
    let group = this.groups.get(key);
    if (!group) {
      group = { key, members: [], sorted: true, insertsSinceSorted: 0 };
      this.groups.set(key, group);
    }
    this.groupOfSlot[slot] = group;
    const last = group.members.at(-1);
    if (
      last === undefined ||
      compareIds(this.workerIds[last] as string, this.workerIds[slot] as string) < 0
    ) {
      group.members.push(slot);
    } else if (group.sorted && group.insertsSinceSorted < MAX_SHIFTING_INSERTS) {
      group.insertsSinceSorted++;
      group.members.splice(this.positionIn(group.members, slot), 0, slot);
    } else {
      // Appended, and sorted when next read: thousands of workers registering at once in no
      // particular order must not each shift a large group.
      group.sorted = false;
      group.members.push(slot);
    }
  }

  /** A group's workers in id order. */
  membersOf(group: WorkerGroup): readonly number[] {
    if (!group.sorted) {
      const ids = this.workerIds;
      group.members.sort((a, b) => compareIds(ids[a] as string, ids[b] as string));
      group.sorted = true;
    }
    group.insertsSinceSorted = 0;
    return group.members;
  }

  /** Where `slot` is in slots kept in id order. */
  private positionIn(members: readonly number[], slot: number): number {
    const id = this.workerIds[slot] as string;
    let low = 0;
    let high = members.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if ((this.workerIds[members[middle] as number] as string) < id) low = middle + 1;
      else high = middle;
    }
    return low;
  }

  /** Equal for two workers exactly when every number a policy reads of them is equal. */
  private groupKey(slot: number): string {
    const { capacity, passAllocated } = this;
    return (
      `${capacity.cpu[slot]},${capacity.memoryGb[slot]},${capacity.storageGb[slot]},${capacity.gpu[slot]}/` +
      `${passAllocated.cpu[slot]},${passAllocated.memoryGb[slot]},${passAllocated.storageGb[slot]},${passAllocated.gpu[slot]}`
    );
  }

  private grow(length: number): void {
    this.schedulable = grownBytes(this.schedulable, length);
    this.flapping = grownBytes(this.flapping, length);
    this.cordoned = grownBytes(this.cordoned, length);
    this.draining = grownBytes(this.draining, length);
    this.capacity = resourceColumns(length, this.capacity);
    this.allocated = resourceColumns(length, this.allocated);
    this.passAllocated = resourceColumns(length, this.passAllocated);
    this.free = resourceColumns(length, this.free);
  }
}

/** Schedulable workers of equal capacity and allocation (read through `PlacementWorkers.membersOf`). */
export interface WorkerGroup {
  readonly key: string;
  readonly members: number[];
  /** Whether `members` is in id order. */
  sorted: boolean;
  /** Members inserted in place since it was last read. */
  insertsSinceSorted: number;
}

/** Out-of-order arrivals a group takes in place (shifting the others) before it sorts on the next read instead. */
const MAX_SHIFTING_INSERTS = 16;

/** The order of `<` on strings, which is the order of a plain `sort()` of ids. */
function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export interface PassInput {
  /** Queued tasks not being acted on, oldest first. */
  queue: readonly TaskDocument[];
  workers: PlacementWorkers;
  /** Workers that recently failed to acknowledge this task (undefined when none did). */
  excludedWorkers: (taskId: string) => Iterable<string> | undefined;
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
 * reserves a worker. Pure apart from updating `memory` (the workers are as before afterwards).
 */
export function planPass(input: PassInput): PassDecision[] {
  const pass = new PlacementPass(input);
  try {
    return pass.run();
  } finally {
    pass.forgetPlacements();
  }
}

/** Scratch space of a pass, kept between passes (grown, never shrunk) so a pass allocates little. */
interface Scratch {
  schedulable: Int32Array;
  candidates: Int32Array;
  /** Every candidate, when `candidates` holds one per group. */
  everyone: Int32Array;
  /** The usable workers the task would fit on empty. */
  large: Int32Array;
  /** Per slot: the number of the task it is excluded for (tasks of a pass are numbered from 1). */
  excludedFor: Int32Array;
  /** Per slot: 1 when a task has reserved it. */
  reserved: Uint8Array;
  /** The number `excludedFor` last gave a task. */
  lastTaskNumber: number;
}

const scratchOf = new WeakMap<PlacementWorkers, Scratch>();

function scratchFor(workers: PlacementWorkers): Scratch {
  const length = workers.size;
  let scratch = scratchOf.get(workers);
  if (!scratch || scratch.schedulable.length < length) {
    const size = Math.max(length, (scratch?.schedulable.length ?? 0) * 2, FIRST_SLOTS);
    scratch = {
      schedulable: new Int32Array(size),
      candidates: new Int32Array(size),
      everyone: new Int32Array(size),
      large: new Int32Array(size),
      excludedFor: grownInts(scratch?.excludedFor ?? new Int32Array(0), size).fill(0),
      reserved: grownBytes(scratch?.reserved ?? new Uint8Array(0), size).fill(0),
      lastTaskNumber: 0,
    };
    scratchOf.set(workers, scratch);
  }
  return scratch;
}

/** What one pass knows about one task that found no worker. */
interface Waiting {
  task: TaskDocument;
  requests: Resources;
  /** Its number in `scratch.excludedFor`, 0 when it excludes no worker. */
  taskNumber: number;
  /** Schedulable workers it may be offered to (not excluded). */
  usable: number;
  /** How many of them it would fit on empty; their slots are `scratch.large[0..)`. */
  large: number;
}

class PlacementPass {
  private readonly workers: PlacementWorkers;
  private readonly scratch: Scratch;
  /** How many of `scratch.schedulable` are filled, once a task needed the list (-1 before). */
  private schedulableListed = -1;
  /** Live workers held back from new tasks (suspect, draining, cordoned, flapping), in id order. */
  private readonly heldBack: number[] = [];
  /** Slots whose pass state this pass changed. */
  private readonly placedOn: number[] = [];
  /** slot → the task that reserved it. */
  private readonly reservedBy = new Map<number, string>();
  /** Tasks left waiting that an empty worker could take, with the placements made before them. */
  private readonly waitingOlder: { taskId: string; placedBefore: number }[] = [];
  private placed = 0;
  /** Placements and reservations so far: what a task's outcome depends on besides its own requests. */
  private changes = 0;
  /** The outcome of the last task that waited, by its requests, and `changes` when it did. */
  private readonly waitedLike = new Map<string, { changes: number; large: number; reason: string }>();

  constructor(private readonly input: PassInput) {
    this.workers = input.workers;
    this.scratch = scratchFor(this.workers);
  }

  /**
   * The schedulable workers in id order (and the held-back ones), listed when a task first needs
   * them: a pass whose policy takes groups of workers places without walking the whole fleet.
   */
  private get schedulableCount(): number {
    if (this.schedulableListed >= 0) return this.schedulableListed;
    let schedulable = 0;
    for (const slot of this.workers.slotsInIdOrder()) {
      if (this.workers.takesNewTasks(slot)) this.scratch.schedulable[schedulable++] = slot;
      else {
        const state = this.workers.heldBackStateOf(slot);
        if (state === 'suspect' || state === 'draining' || state === 'cordoned' || state === 'flapping') {
          this.heldBack.push(slot);
        }
      }
    }
    this.schedulableListed = schedulable;
    return schedulable;
  }

  run(): PassDecision[] {
    const { input } = this;
    this.forgetStaleMemory();
    for (const [taskId, workerId] of input.memory.reservations) {
      this.reserve(this.workers.slotOf(workerId) as number, taskId);
    }
    const decisions: PassDecision[] = [];
    for (const task of input.queue) decisions.push(this.place(task));
    // Each task left waiting was passed by every placement after it.
    for (const { taskId, placedBefore } of this.waitingOlder) {
      const passedBy = this.placed - placedBefore;
      if (passedBy > 0)
        input.memory.bypassed.set(taskId, (input.memory.bypassed.get(taskId) ?? 0) + passedBy);
    }
    return decisions;
  }

  /** Leaves the workers as they were before the pass. */
  forgetPlacements(): void {
    for (const slot of this.placedOn) this.workers.resetPassState(slot);
    for (const slot of this.reservedBy.keys()) this.scratch.reserved[slot] = 0;
  }

  private forgetStaleMemory(): void {
    const { memory, queue } = this.input;
    if (memory.bypassed.size === 0 && memory.reservations.size === 0) return;
    const queued = new Map(queue.map((task) => [task.taskId, task]));
    for (const taskId of memory.bypassed.keys()) {
      if (!queued.has(taskId)) memory.bypassed.delete(taskId);
    }
    for (const [taskId, workerId] of memory.reservations) {
      const slot = this.workers.slotOf(workerId);
      const task = queued.get(taskId);
      if (
        !task ||
        slot === undefined ||
        !this.workers.takesNewTasks(slot) ||
        !this.fitsEmpty(requestsOf(task), slot)
      )
        memory.reservations.delete(taskId);
    }
  }

  private reserve(slot: number, taskId: string): void {
    this.reservedBy.set(slot, taskId);
    this.scratch.reserved[slot] = 1;
    this.changes++;
  }

  private unreserve(slot: number): void {
    this.reservedBy.delete(slot);
    this.scratch.reserved[slot] = 0;
    this.changes++;
  }

  private place(task: TaskDocument): PassDecision {
    const { input, workers, scratch } = this;
    const { memory } = input;
    const requests = requestsOf(task);
    const taskNumber = this.markExclusions(task.taskId);
    // A task like one that waited since the last placement or reservation, with no exclusion
    // or reservation of its own, finds no worker either, for the same reason: a full cluster's
    // queue is mostly such tasks, and each would otherwise walk every worker twice.
    const likeKey =
      taskNumber === 0 && !memory.reservations.has(task.taskId) ? requestsKey(requests) : undefined;
    const like = likeKey === undefined ? undefined : this.waitedLike.get(likeKey);
    if (
      like?.changes === this.changes &&
      !(like.large > 0 && (memory.bypassed.get(task.taskId) ?? 0) >= input.bypassLimit)
    ) {
      if (like.large > 0) this.waitingOlder.push({ taskId: task.taskId, placedBefore: this.placed });
      return { kind: 'wait', task, reason: like.reason };
    }
    const columns = {
      workerIds: workers.workerIds,
      capacity: workers.capacity,
      allocated: workers.passAllocated,
      free: workers.free,
    };
    const everyone = (slots: Int32Array): Candidates => {
      const all: Candidates = {
        ...columns,
        count: this.findCandidates(slots, task.taskId, requests, taskNumber),
        slots,
        everyone: () => all,
      };
      return all;
    };
    const { interchangeable } = input.policy;
    // Groups save work only where workers are alike; with as many groups as workers, walking
    // the workers in id order is cheaper.
    const byGroup = interchangeable && workers.groupCount * 2 <= workers.schedulableCount;
    const candidates: Candidates = byGroup
      ? {
          ...columns,
          count: this.findGroupCandidates(interchangeable, task.taskId, requests, taskNumber),
          slots: scratch.candidates,
          everyone: () => everyone(scratch.everyone),
        }
      : everyone(scratch.candidates);
    const { count } = candidates;
    const choice = count > 0 ? input.policy.choose(task, candidates, input.now) : undefined;
    const slot = choice && workers.slotOf(choice.workerId);
    if (choice && slot !== undefined && workers.takesNewTasks(slot)) {
      workers.placeDuringPass(slot, requests);
      this.changes++;
      this.placedOn.push(slot);
      this.placed++;
      memory.bypassed.delete(task.taskId);
      const reserved = memory.reservations.get(task.taskId);
      if (reserved !== undefined) this.unreserve(workers.slotOf(reserved) as number);
      memory.reservations.delete(task.taskId);
      return { kind: 'assign', task, workerId: choice.workerId, policy: choice.policy };
    }
    const waiting = this.sizeUp(task, requests, taskNumber);
    // Only a task that an empty schedulable worker could take is being overtaken; one too large for
    // every worker would reserve nothing useful.
    if (waiting.large > 0) {
      this.waitingOlder.push({ taskId: task.taskId, placedBefore: this.placed });
      if (
        (memory.bypassed.get(task.taskId) ?? 0) >= input.bypassLimit &&
        !memory.reservations.has(task.taskId)
      ) {
        const target = this.closestUnreserved(waiting);
        if (target !== undefined) {
          memory.reservations.set(task.taskId, workers.workerIds[target] as string);
          this.reserve(target, task.taskId);
        }
      }
    }
    const reason = this.explainWait(waiting);
    if (likeKey !== undefined && !memory.reservations.has(task.taskId))
      this.waitedLike.set(likeKey, { changes: this.changes, large: waiting.large, reason });
    return { kind: 'wait', task, reason };
  }

  /** Marks the task's excluded workers; returns the task's number, 0 when it has none. */
  private markExclusions(taskId: string): number {
    const excluded = this.input.excludedWorkers(taskId);
    if (excluded === undefined) return 0;
    const { scratch } = this;
    if (scratch.lastTaskNumber === MAX_TASK_NUMBER) {
      scratch.excludedFor.fill(0);
      scratch.lastTaskNumber = 0;
    }
    const taskNumber = ++scratch.lastTaskNumber;
    for (const workerId of excluded) {
      const slot = this.workers.slotOf(workerId);
      if (slot !== undefined) this.scratch.excludedFor[slot] = taskNumber;
    }
    return taskNumber;
  }

  /** Fills `into` with the schedulable workers the task may go to (not excluded, not reserved for another) that have room. */
  private findCandidates(into: Int32Array, taskId: string, requests: Resources, taskNumber: number): number {
    const { schedulable } = this.scratch;
    const scheduled = this.schedulableCount;
    let count = 0;
    for (let index = 0; index < scheduled; index++) {
      const slot = schedulable[index] as number;
      if (this.mayGoTo(slot, taskId, taskNumber) && this.hasRoom(requests, slot)) into[count++] = slot;
    }
    return count;
  }

  /**
   * Fills `scratch.candidates` with the first worker the task may go to of each group with room
   * (its equals would score the same and lose the tie on id) and every worker the policy names
   * that may take it; in no particular order.
   */
  private findGroupCandidates(
    interchangeable: NonNullable<PlacementPolicy['interchangeable']>,
    taskId: string,
    requests: Resources,
    taskNumber: number,
  ): number {
    const { candidates } = this.scratch;
    const { workers } = this;
    const { named } = interchangeable;
    let count = 0;
    for (const group of workers.schedulableGroups()) {
      if (!this.hasRoom(requests, group.members[0] as number)) continue;
      for (const slot of workers.membersOf(group)) {
        if (!this.mayGoTo(slot, taskId, taskNumber) || named.has(workers.workerIds[slot] as string)) continue;
        candidates[count++] = slot;
        break;
      }
    }
    for (const workerId of named) {
      const slot = workers.slotOf(workerId);
      if (
        slot !== undefined &&
        workers.takesNewTasks(slot) &&
        this.mayGoTo(slot, taskId, taskNumber) &&
        this.hasRoom(requests, slot)
      )
        candidates[count++] = slot;
    }
    return count;
  }

  /** Not excluded for the task, and not reserved for another. */
  private mayGoTo(slot: number, taskId: string, taskNumber: number): boolean {
    if (taskNumber !== 0 && this.scratch.excludedFor[slot] === taskNumber) return false;
    return this.scratch.reserved[slot] === 0 || this.reservedBy.get(slot) === taskId;
  }

  private hasRoom(requests: Resources, slot: number): boolean {
    return fitsAt(requests, this.workers.free, slot);
  }

  /** For a task that found no worker: how many it may be offered to, and which it would fit on empty. */
  private sizeUp(task: TaskDocument, requests: Resources, taskNumber: number): Waiting {
    const { schedulable, large, excludedFor } = this.scratch;
    let usable = 0;
    let fitting = 0;
    for (let index = 0; index < this.schedulableCount; index++) {
      const slot = schedulable[index] as number;
      if (taskNumber !== 0 && excludedFor[slot] === taskNumber) continue;
      usable++;
      if (this.fitsEmpty(requests, slot)) large[fitting++] = slot;
    }
    return { task, requests, taskNumber, usable, large: fitting };
  }

  private fitsEmpty(requests: Resources, slot: number): boolean {
    return fitsAt(requests, this.workers.capacity, slot);
  }

  /** The unreserved worker the task would fit on soonest (the first of equals, in id order). */
  private closestUnreserved({ requests, large }: Waiting): number | undefined {
    let best: number | undefined;
    let bestCloseness = 0;
    for (let index = 0; index < large; index++) {
      const slot = this.scratch.large[index] as number;
      if (this.reservedBy.has(slot)) continue;
      const closeness = this.closeness(slot, requests);
      if (best === undefined || closeness > bestCloseness) {
        best = slot;
        bestCloseness = closeness;
      }
    }
    return best;
  }

  /** How near a worker is to fitting the request: the smallest free/requested ratio over what is requested. */
  private closeness(slot: number, requests: Resources): number {
    const ratios = RESOURCE_KINDS.filter((kind) => requests[kind] > 0).map(
      (kind) => (this.workers.free[kind][slot] as number) / requests[kind],
    );
    return ratios.length > 0 ? Math.min(...ratios) : 1;
  }

  /** Why a task waits, in the words `cloudai task submit` prints after "queued:". */
  private explainWait(waiting: Waiting): string {
    const { task, requests, usable, large } = waiting;
    const { workers, scratch } = this;
    if (workers.size === 0) return 'no worker has registered yet';
    if (this.schedulableCount === 0) return `no schedulable worker: ${this.countByState()}`;
    const heldBack = this.heldBackWithRoom(requests);
    if (usable === 0) {
      const ids = Array.from(scratch.schedulable.subarray(0, this.schedulableCount), (slot) =>
        this.idOf(slot),
      );
      return `no schedulable worker acknowledged it (${ids.join(', ')}); it is offered again when a worker returns or after a pause${heldBack}`;
    }
    const ownReservation = this.input.memory.reservations.get(task.taskId);
    const draining = ownReservation
      ? `; worker ${ownReservation} is reserved for it and takes no newer tasks`
      : '';
    if (large === 0) return this.tooLarge(waiting, heldBack);
    const open: number[] = [];
    const blocked: string[] = [];
    for (const slot of scratch.large.subarray(0, large)) {
      const holder = this.reservedBy.get(slot);
      if (holder !== undefined && holder !== task.taskId) blocked.push(`${this.idOf(slot)} for ${holder}`);
      else open.push(slot);
    }
    if (open.length === 0) {
      return `the workers large enough are reserved for older tasks (${blocked.join(', ')})${heldBack}`;
    }
    const { free } = workers;
    const short = RESOURCE_KINDS.filter((kind) =>
      open.every((slot) => requests[kind] > (free[kind][slot] as number) + EPSILON),
    );
    if (short.length > 0) {
      const most = short.map((kind) => this.largestOf(open, free, kind));
      return `no schedulable worker has ${describeResources(requests, short)} free (most free: ${most.join(', ')})${draining}${heldBack}`;
    }
    return `no schedulable worker has ${describeResources(requests)} free at once${draining}${heldBack}`;
  }

  /** The wait reason of a task no usable worker could take even empty. */
  private tooLarge({ requests, taskNumber }: Waiting, heldBack: string): string {
    const usable: number[] = [];
    for (const slot of this.scratch.schedulable.subarray(0, this.schedulableCount)) {
      if (taskNumber === 0 || this.scratch.excludedFor[slot] !== taskNumber) usable.push(slot);
    }
    const { capacity } = this.workers;
    const kinds = RESOURCE_KINDS.filter((kind) =>
      usable.every((slot) => (capacity[kind][slot] as number) < requests[kind]),
    );
    if (kinds.length === 0)
      return `no schedulable worker is large enough for ${describeResources(requests)} at once${heldBack}`;
    const biggest = kinds.map((kind) => this.largestOf(usable, capacity, kind));
    return `no schedulable worker is large enough for ${describeResources(requests, kinds)} (largest: ${biggest.join(', ')})${heldBack}`;
  }

  /** "4 cpu on kim": the largest amount of a kind among the slots, the first of equals. */
  private largestOf(slots: readonly number[], columns: ResourceColumns, kind: ResourceKind): string {
    const column = columns[kind];
    let top = slots[0] as number;
    for (const slot of slots) if ((column[slot] as number) > (column[top] as number)) top = slot;
    return `${describeAmount(kind, column[top] as number)} on ${this.idOf(top)}`;
  }

  /** "2 suspect, 1 cordoned, 3 inactive": the unschedulable workers by what holds them back. */
  private countByState(): string {
    const counts = new Map<HeldBackState, number>();
    for (let slot = 0; slot < this.workers.size; slot++) {
      const state = this.workers.heldBackStateOf(slot);
      if (state) counts.set(state, (counts.get(state) ?? 0) + 1);
    }
    return HELD_BACK_STATES.filter((state) => counts.has(state))
      .map((state) => `${counts.get(state)} ${state}`)
      .join(', ');
  }

  /**
   * "; kim (suspect), tessa (cordoned) have room but take no new tasks": the live workers that
   * could run the task now but are held back, in id order, when there are any; empty otherwise.
   */
  private heldBackWithRoom(requests: Resources): string {
    const named: string[] = [];
    let count = 0;
    const { free } = this.workers;
    for (const slot of this.heldBack) {
      if (!fitsAt(requests, free, slot)) continue;
      count++;
      if (named.length < MAX_NAMED) named.push(`${this.idOf(slot)} (${this.workers.heldBackStateOf(slot)})`);
    }
    if (count === 0) return '';
    const more = count > named.length ? ` and ${count - named.length} more` : '';
    return `; ${named.join(', ')}${more} ${count === 1 ? 'has room but takes' : 'have room but take'} no new tasks`;
  }

  private idOf(slot: number): string {
    return this.workers.workerIds[slot] as string;
  }
}

/** What keeps a worker from new tasks, in the order the wait reasons name them. */
const HELD_BACK_STATES = [
  'suspect',
  'draining',
  'cordoned',
  'flapping',
  'inactive',
  'left',
  'removed',
] as const;
type HeldBackState = (typeof HELD_BACK_STATES)[number];

/** Names shown before "and N more", so a large fleet keeps the reason on one line. */
const MAX_NAMED = 3;
