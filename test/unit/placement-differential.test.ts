import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { addResources, NO_RESOURCES, type Resources, requestsOf } from '../../projections/resources.js';
import type { TaskDocument } from '../../projections/task-document.js';
import {
  emptyQueueMemory,
  type PassDecision,
  type PlacementWorker,
  PlacementWorkers,
  planPass,
  type QueueMemory,
} from '../../scheduler/placement.js';
import type { PlacementPolicy } from '../../scheduler/policies/policy.js';
import { createRoundRobinPolicy } from '../../scheduler/policies/round-robin.js';
import { createRtsPolicy } from '../../scheduler/policies/rts.js';
import { DEFAULT_RTS_PARAMS, type RtsParams } from '../../scheduler/policies/rts-params.js';
import { TASK_TYPES, type TaskSpec, type TaskType } from '../../streams/contracts/task-events.js';
import type { WorkerStatus } from '../../streams/contracts/worker-events.js';
import { seededRandom } from '../support/random.js';
import {
  type ReferencePolicy,
  referencePlanPass,
  referenceRoundRobinPolicy,
  referenceRtsPolicy,
} from '../support/reference-placement.js';
import { taskFrom } from '../support/tasks.js';

/*
 * The placement pass keeps its workers in columns between passes; the reference is the
 * implementation before that (test/support/reference-placement.ts). The same randomized
 * workload goes through both and every decision, wait reason and queue memory must match.
 *
 * Changed on purpose, and therefore not compared here:
 * - A wait reason names the held-back workers with room ("kim (suspect) has room…") in worker-id
 *   order; the reference named them in the order the caller listed the workers, which was
 *   registration order for a scheduler that followed the stream and key order for one that
 *   started from the read model. The reference is given the workers in id order, where the two agree.
 * - RTS reads a worker's affinity and penalty only from the parameters' own entries: a worker
 *   named after an object property (`constructor`, `toString`) got an inherited function as its
 *   penalty, a risk that is not a number, and so was never chosen. The last test shows it.
 */

const NOW = 1_764_300_000_000;
const STEPS = 50;
const SEEDS = [1, 2, 3, 5, 8, 13];

/**
 * A varied fleet (five shapes, any use, tasks of many sizes: nearly every worker unlike the
 * others), or a uniform one (two shapes, tasks of two sizes: large groups of equal workers,
 * which a pass for RTS offers the task one worker of).
 */
type Fleet = 'varied' | 'uniform';

/** Capacities from a few machine shapes, so that equal workers (exact ties in every score) are common. */
const SHAPES: readonly Resources[] = [
  { cpu: 4, memoryGb: 8, storageGb: 100, gpu: 0 },
  { cpu: 8, memoryGb: 32, storageGb: 200, gpu: 0 },
  { cpu: 16, memoryGb: 64, storageGb: 500, gpu: 2 },
  { cpu: 32, memoryGb: 128, storageGb: 1_000, gpu: 4 },
  { cpu: 2.5, memoryGb: 3.3, storageGb: 10.1, gpu: 0 },
];

type Policies = { name: string; current: () => PlacementPolicy; reference: () => ReferencePolicy };

const NAMED_WORKERS = ['w-005', 'w-010', 'w-011', 'w-020', 'w-030'];

const TUNED_PARAMS: RtsParams = {
  ...DEFAULT_RTS_PARAMS,
  theta: [0.4, 0.05, 0.9, 0.7],
  alpha: 3,
  beta: 2.5,
  affinity: {
    'cpu-light': { 'w-010': 0.05 },
    'cpu-heavy': { 'w-010': 0.4, 'w-020': 0.2 },
    'gpu-training': { 'w-030': 1 },
  },
  penalty: { 'w-011': 0.3, 'w-005': 5 },
};

const POLICIES: readonly Policies[] = [
  {
    name: 'rts (defaults)',
    current: () => createRtsPolicy(DEFAULT_RTS_PARAMS, createRoundRobinPolicy()),
    reference: () => referenceRtsPolicy(DEFAULT_RTS_PARAMS, referenceRoundRobinPolicy()),
  },
  {
    name: 'rts (affinity, penalty, other weights)',
    current: () => createRtsPolicy(TUNED_PARAMS, createRoundRobinPolicy()),
    reference: () => referenceRtsPolicy(TUNED_PARAMS, referenceRoundRobinPolicy()),
  },
  {
    name: 'rts falling back to round-robin (α not a number)',
    current: () => createRtsPolicy({ ...DEFAULT_RTS_PARAMS, alpha: Number.NaN }, createRoundRobinPolicy()),
    reference: () =>
      referenceRtsPolicy({ ...DEFAULT_RTS_PARAMS, alpha: Number.NaN }, referenceRoundRobinPolicy()),
  },
  { name: 'round-robin', current: createRoundRobinPolicy, reference: referenceRoundRobinPolicy },
];

type WorkerState = WorkerStatus | 'cordoned' | 'flapping';

/** One randomized cluster: workers that change between passes and a queue that grows and drains. */
class Workload {
  readonly workers = new Map<string, PlacementWorker>();
  /** Workers changed since the fast implementation's table last heard of them. */
  readonly changed = new Set<string>();
  /** taskId → where it runs and what it holds, so that it can finish later. */
  private readonly running = new Map<string, { workerId: string; requests: Resources }>();
  queue: TaskDocument[] = [];
  exclusions = new Map<string, string[]>();
  now = NOW;
  private nextTask = 0;

  constructor(
    private readonly random: () => number,
    private readonly fleet: Fleet = 'varied',
  ) {
    // The workers the tuned parameters name are always there, scored apart from their equals.
    for (const workerId of NAMED_WORKERS) this.addWorker(workerId);
    const count = 20 + Math.floor(random() * 60);
    for (let index = 0; index < count; index++) this.addWorker();
  }

  /** The world moves on between two passes. */
  step(): void {
    this.now += Math.floor(this.random() * 4_000);
    for (const worker of [...this.workers.values()]) {
      if (this.random() < 0.12) this.changeState(worker);
      else if (this.random() < 0.03) this.set(worker, { capacity: this.shape() });
    }
    if (this.random() < 0.3) this.addWorker();
    for (const [taskId, { workerId, requests }] of [...this.running]) {
      if (this.random() >= 0.15) continue;
      this.running.delete(taskId);
      const worker = this.workers.get(workerId);
      if (worker) this.set(worker, { allocated: subtract(worker.allocated, requests) });
    }
    const arrivals = Math.floor(this.random() * 14);
    for (let index = 0; index < arrivals; index++) this.queue.push(this.task());
    // A batch job: tasks asking for the same, one after the other in the queue.
    if (this.random() < 0.4) {
      const spec = this.spec();
      const copies = 2 + Math.floor(this.random() * 8);
      for (let index = 0; index < copies; index++) this.queue.push(this.task(spec));
    }
    this.exclusions = new Map();
    const ids = [...this.workers.keys()];
    for (const task of this.queue) {
      if (this.random() < 0.15) {
        const excluded = ids.filter(() => this.random() < 0.3);
        if (this.random() < 0.2) excluded.push('w-never-registered');
        this.exclusions.set(task.taskId, excluded);
      }
    }
  }

  /** Records the decisions as the scheduler would: placed tasks hold their share and leave the queue. */
  apply(decisions: readonly PassDecision[]): void {
    for (const decision of decisions) {
      if (decision.kind !== 'assign') continue;
      const worker = this.workers.get(decision.workerId) as PlacementWorker;
      const requests = requestsOf(decision.task);
      this.set(worker, { allocated: addResources(worker.allocated, requests) });
      this.running.set(decision.task.taskId, { workerId: worker.workerId, requests });
    }
    const placed = new Set(decisions.filter((d) => d.kind === 'assign').map((d) => d.task.taskId));
    this.queue = this.queue.filter((task) => !placed.has(task.taskId));
  }

  /** The workers in id order, as the reference is given them. */
  inIdOrder(): PlacementWorker[] {
    return [...this.workers.values()].sort((a, b) => (a.workerId < b.workerId ? -1 : 1));
  }

  private addWorker(named?: string): void {
    // Ids drawn at random, so that new workers land between existing ones in id order.
    let workerId = named ?? '';
    while (workerId === '' || this.workers.has(workerId))
      workerId = `w-${String(Math.floor(this.random() * 1_000)).padStart(3, '0')}`;
    const capacity = this.shape();
    // Few levels of use, so that many workers are equal in everything (one group to the pass).
    const used =
      this.fleet === 'uniform' ? this.pick([0, 0.5]) : this.pick([0, 0, 0.25, this.random() * 0.9]);
    const allocated = {
      cpu: Math.floor(capacity.cpu * used),
      memoryGb: Math.floor(capacity.memoryGb * used * 10) / 10,
      storageGb: Math.floor(capacity.storageGb * used),
      gpu: this.random() < 0.5 ? 0 : Math.floor(capacity.gpu * used),
    };
    const worker = { workerId, ...stateFields(this.pick(STATES)), capacity, allocated };
    this.workers.set(workerId, worker);
    this.changed.add(workerId);
  }

  private changeState(worker: PlacementWorker): void {
    this.set(worker, stateFields(this.pick(STATES)));
  }

  private set(worker: PlacementWorker, change: Partial<PlacementWorker>): void {
    this.workers.set(worker.workerId, { ...worker, ...change });
    this.changed.add(worker.workerId);
  }

  private task(spec = this.spec()): TaskDocument {
    const submittedAt = this.now - Math.floor(this.random() * 30_000);
    return taskFrom(`t-${String(this.nextTask++).padStart(5, '0')}`, submittedAt, spec);
  }

  private spec(): Partial<TaskSpec> {
    const type: TaskType = this.pick(TASK_TYPES);
    const roll = this.random();
    // Mostly small; some that fit only the largest shape; some that fit nowhere.
    const scale = roll < 0.75 ? 1 : roll < 0.92 ? 6 : 40;
    const uniform = this.fleet === 'uniform';
    return {
      type,
      cpu: (uniform ? this.pick([1, 2]) : this.pick([0.1, 0.2, 0.5, 1, 2, 3])) * scale,
      memoryGb: (uniform ? 2 : this.pick([0.1, 0.5, 1, 2, 4])) * scale,
      storageGb: (uniform ? 1 : this.pick([0, 1, 5])) * scale,
      gpu: type.startsWith('gpu') ? this.pick([1, 2]) * (scale > 1 ? 2 : 1) : 0,
      k: this.pick([1, 1.5, 2, 3]),
    };
  }

  private shape(): Resources {
    return this.pick(this.fleet === 'uniform' ? SHAPES.slice(1, 3) : SHAPES);
  }

  private pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.random() * items.length)] as T;
  }
}

/** Active most of the time, so that most passes place something. */
const STATES: readonly WorkerState[] = [
  'active',
  'active',
  'active',
  'active',
  'active',
  'suspect',
  'inactive',
  'removed',
  'cordoned',
  'flapping',
];

function stateFields(state: WorkerState): Pick<PlacementWorker, 'status' | 'cordoned' | 'flapping'> {
  const flagged = state === 'cordoned' || state === 'flapping';
  return {
    status: flagged ? 'active' : state,
    cordoned: state === 'cordoned',
    flapping: state === 'flapping',
  };
}

function subtract(a: Resources, b: Resources): Resources {
  return {
    cpu: a.cpu - b.cpu,
    memoryGb: a.memoryGb - b.memoryGb,
    storageGb: a.storageGb - b.storageGb,
    gpu: a.gpu - b.gpu,
  };
}

/** A decision as the scheduler acts on it. */
function outcome(decision: PassDecision): string {
  return decision.kind === 'assign'
    ? `${decision.task.taskId} → ${decision.workerId} (${decision.policy})`
    : `${decision.task.taskId} waits: ${decision.reason}`;
}

function memoryOf(memory: QueueMemory): string {
  const sorted = (map: Map<string, unknown>) => JSON.stringify([...map].sort(([a], [b]) => (a < b ? -1 : 1)));
  return `bypassed ${sorted(memory.bypassed)}; reservations ${sorted(memory.reservations)}`;
}

for (const [policies, fleet] of POLICIES.flatMap((p) =>
  (['varied', 'uniform'] as const).map((f) => [p, f] as const),
)) {
  test(`the same decisions and wait reasons as before, ${policies.name}, ${fleet} fleet`, () => {
    let placed = 0;
    let waited = 0;
    let reserved = 0;
    for (const seed of SEEDS) {
      const random = seededRandom(seed);
      const workload = new Workload(random, fleet);
      const table = new PlacementWorkers();
      const current = { policy: policies.current(), memory: emptyQueueMemory() };
      const reference = { policy: policies.reference(), memory: emptyQueueMemory() };
      const bypassLimit = 1 + (seed % 3);
      for (let step = 0; step < STEPS; step++) {
        workload.step();
        // The table hears only of the workers that changed, as the scheduler's does.
        for (const workerId of workload.changed)
          table.upsert(workload.workers.get(workerId) as PlacementWorker);
        workload.changed.clear();
        const { queue, now, exclusions } = workload;
        const expected = referencePlanPass({
          queue,
          workers: workload.inIdOrder(),
          isExcluded: (taskId, workerId) => exclusions.get(taskId)?.includes(workerId) ?? false,
          policy: reference.policy,
          now,
          bypassLimit,
          memory: reference.memory,
        });
        const actual = planPass({
          queue,
          workers: table,
          excludedWorkers: (taskId) => exclusions.get(taskId),
          policy: current.policy,
          now,
          bypassLimit,
          memory: current.memory,
        });
        const where = `seed ${seed}, pass ${step}`;
        assert.equal(actual.map(outcome), expected.map(outcome), where);
        assert.is(memoryOf(current.memory), memoryOf(reference.memory), where);
        placed += actual.filter((decision) => decision.kind === 'assign').length;
        waited += actual.filter((decision) => decision.kind === 'wait').length;
        reserved += current.memory.reservations.size;
        workload.apply(actual);
      }
    }
    // The workload exercised what it is meant to: placements, waits, reservations.
    assert.ok(placed > 500, `${placed} placed`);
    assert.ok(waited > 500, `${waited} waited`);
    assert.ok(reserved > 0, 'some task reserved a worker');
  });
}

test('a pass leaves the workers as they were: the same pass twice decides the same', () => {
  const random = seededRandom(99);
  const workload = new Workload(random);
  workload.step();
  const table = PlacementWorkers.of(workload.workers.values());
  const run = () =>
    planPass({
      queue: workload.queue,
      workers: table,
      excludedWorkers: (taskId) => workload.exclusions.get(taskId),
      policy: createRtsPolicy(DEFAULT_RTS_PARAMS, createRoundRobinPolicy()),
      now: workload.now,
      bypassLimit: 2,
      memory: emptyQueueMemory(),
    }).map(outcome);
  const first = run();
  assert.ok(
    first.some((line) => line.includes('→')),
    'the pass placed something',
  );
  assert.equal(run(), first);
});

test('a task like one that waited is told the same, unless a reservation came between or it must reserve', () => {
  // One 8-core worker with 2 free; three tasks of 4 cores (a, then c and d alike) around one of
  // 5 cores (b) that has been passed often enough to reserve the worker.
  const busy: PlacementWorker = {
    workerId: 'w-1',
    status: 'active',
    flapping: false,
    cordoned: false,
    capacity: { cpu: 8, memoryGb: 32, storageGb: 100, gpu: 0 },
    allocated: { cpu: 6, memoryGb: 1, storageGb: 0, gpu: 0 },
  };
  const [a, b, c, d] = [4, 5, 4, 4].map((cpu, index) => taskFrom(`t-${index}`, NOW + index, { cpu }));
  const memory = () => ({ bypassed: new Map([['t-1', 3]]), reservations: new Map<string, string>() });
  const scenarios = [
    { queue: [a, b, c], bypassLimit: 1 },
    { queue: [a, d], bypassLimit: 3, passed: 3 },
  ].map(({ queue, bypassLimit, passed }) => {
    const withPassed = () => {
      const remembered = memory();
      if (passed) remembered.bypassed.set('t-3', passed);
      return remembered;
    };
    const common = { queue: queue as TaskDocument[], now: NOW, bypassLimit };
    const actual = planPass({
      ...common,
      memory: withPassed(),
      workers: PlacementWorkers.of([busy]),
      excludedWorkers: () => undefined,
      policy: createRtsPolicy(DEFAULT_RTS_PARAMS, createRoundRobinPolicy()),
    }).map(outcome);
    const expected = referencePlanPass({
      ...common,
      memory: withPassed(),
      workers: [busy],
      isExcluded: () => false,
      policy: referenceRtsPolicy(DEFAULT_RTS_PARAMS, referenceRoundRobinPolicy()),
    }).map(outcome);
    assert.equal(actual, expected);
    return actual;
  });
  const [reservedBetween, mustReserve] = scenarios;
  assert.match(reservedBetween?.[0] ?? '', /has 4 cpu free \(most free: 2 cpu on w-1\)$/);
  assert.match(reservedBetween?.[2] ?? '', /reserved for older tasks \(w-1 for t-1\)$/);
  assert.match(mustReserve?.[1] ?? '', /worker w-1 is reserved for it/);
});

test('RTS: a worker named like an object property gets tasks (the reference never chose it)', () => {
  const idle = (workerId: string, cpu: number): PlacementWorker => ({
    workerId,
    status: 'active',
    flapping: false,
    cordoned: false,
    capacity: { cpu, memoryGb: 64, storageGb: 100, gpu: 0 },
    allocated: NO_RESOURCES,
  });
  const workers = [idle('constructor', 64), idle('zeta', 2)];
  const input = {
    queue: [taskFrom('t-1', NOW, { cpu: 1 })],
    now: NOW,
    bypassLimit: 3,
    memory: emptyQueueMemory(),
  };
  const [chosen] = planPass({
    ...input,
    workers: PlacementWorkers.of(workers),
    excludedWorkers: () => undefined,
    policy: createRtsPolicy(DEFAULT_RTS_PARAMS, createRoundRobinPolicy()),
  });
  assert.is(chosen?.kind === 'assign' && chosen.workerId, 'constructor', 'the idle 64-core worker');
  const [before] = referencePlanPass({
    ...input,
    memory: emptyQueueMemory(),
    workers,
    isExcluded: () => false,
    policy: referenceRtsPolicy(DEFAULT_RTS_PARAMS, referenceRoundRobinPolicy()),
  });
  assert.is(before?.kind === 'assign' && before.workerId, 'zeta', 'the reference passed it over');
});

test.run();
