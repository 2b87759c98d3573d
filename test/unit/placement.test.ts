import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { NO_RESOURCES, type Resources } from '../../projections/resources.js';
import type { TaskDocument } from '../../projections/task-document.js';
import {
  emptyQueueMemory,
  type PassInput,
  type PlacementWorker,
  PlacementWorkers,
  planPass,
} from '../../scheduler/placement.js';
import { type CandidateWorker, candidatesOf } from '../../scheduler/policies/policy.js';
import { createRoundRobinPolicy } from '../../scheduler/policies/round-robin.js';
import { createRtsPolicy, scoreRts } from '../../scheduler/policies/rts.js';
import { DEFAULT_RTS_PARAMS, parseRtsParams, RtsParamsError } from '../../scheduler/policies/rts-params.js';
import type { TaskSpec } from '../../streams/contracts/task-events.js';
import type { WorkerStatus } from '../../streams/contracts/worker-events.js';
import { taskFrom } from '../support/tasks.js';

const NOW = 1_764_300_000_000;
const capacity = (cpu: number, memoryGb: number, gpu = 0): Resources => ({
  cpu,
  memoryGb,
  storageGb: 100,
  gpu,
});

/** A worker's liveness, or an active worker held back by a flag. */
type WorkerState = WorkerStatus | 'cordoned' | 'flapping';

function worker(
  workerId: string,
  state: WorkerState,
  cap: Resources,
  allocated = NO_RESOURCES,
): PlacementWorker {
  const flagged = state === 'cordoned' || state === 'flapping';
  return {
    workerId,
    status: flagged ? 'active' : state,
    cordoned: state === 'cordoned',
    flapping: state === 'flapping',
    capacity: cap,
    allocated,
  };
}

let nextId = 0;
function task(overrides: Partial<TaskSpec> = {}, submittedAt = NOW - 1_000 + nextId): TaskDocument {
  nextId++;
  return taskFrom(`t-${String(nextId).padStart(3, '0')}`, submittedAt, { image: 'x', ...overrides });
}

type PassOverrides = Partial<Omit<PassInput, 'workers'>> & Pick<PassInput, 'queue'>;

function pass({ workers, ...overrides }: PassOverrides & { workers: readonly PlacementWorker[] }) {
  return planPass({
    excludedWorkers: () => undefined,
    policy: createRoundRobinPolicy(),
    now: NOW,
    bypassLimit: 3,
    memory: emptyQueueMemory(),
    workers: PlacementWorkers.of(workers),
    ...overrides,
  });
}

const placements = (decisions: ReturnType<typeof planPass>) =>
  decisions.map((decision) => (decision.kind === 'assign' ? decision.workerId : 'wait'));

const rtsPolicy = () => createRtsPolicy(DEFAULT_RTS_PARAMS, createRoundRobinPolicy());

/** Three default tasks, placed once by each policy: where they go (`wait` for one left waiting). */
function assertEachPolicyPlaces(workers: PlacementWorker[], expected: string[]): void {
  for (const policy of [createRoundRobinPolicy(), rtsPolicy()]) {
    const decisions = pass({ queue: [task(), task(), task()], workers, policy });
    assert.equal(placements(decisions), expected, policy.name);
  }
}

test('inactive workers never get a task, however much room they have', () => {
  const workers = [
    worker('tessa', 'inactive', capacity(64, 256)),
    worker('kim', 'active', capacity(2, 4)),
    worker('ravi', 'inactive', capacity(64, 256)),
  ];
  assertEachPolicyPlaces(workers, ['kim', 'kim', 'wait']);
});

test('suspect, cordoned, flapping, inactive and removed workers never get a new task', () => {
  const roomy = capacity(64, 256);
  const workers = [
    worker('a-suspect', 'suspect', roomy),
    worker('b-cordoned', 'cordoned', roomy),
    worker('c-flapping', 'flapping', roomy),
    worker('d-inactive', 'inactive', roomy),
    worker('e-removed', 'removed', roomy),
    worker('kim', 'active', capacity(2, 4)),
  ];
  assertEachPolicyPlaces(workers, ['kim', 'kim', 'wait']);
  // A suspect worker that is also cordoned counts as suspect; a flagged one that is inactive, as inactive.
  const held = [
    { ...worker('a', 'suspect', roomy), cordoned: true },
    worker('b', 'cordoned', roomy),
    worker('c', 'flapping', roomy),
    { ...worker('d', 'inactive', roomy), flapping: true },
    worker('e', 'removed', roomy),
  ];
  const [none] = pass({ queue: [task()], workers: held });
  assert.is(
    none?.kind === 'wait' && none.reason,
    'no schedulable worker: 1 suspect, 1 cordoned, 1 flapping, 1 inactive, 1 removed',
  );
});

test('a waiting task names the held-back workers that have room for it, and no others', () => {
  const full = { cpu: 4, memoryGb: 8, storageGb: 0, gpu: 0 };
  const workers = [
    worker('kim', 'active', capacity(4, 8), full),
    worker('ravi', 'suspect', capacity(4, 8)),
    worker('tessa', 'cordoned', capacity(4, 8)),
    worker('busy', 'cordoned', capacity(4, 8), full),
    worker('gone', 'inactive', capacity(4, 8)),
  ];
  const [decision] = pass({ queue: [task({ cpu: 2 })], workers });
  assert.is(
    decision?.kind === 'wait' && decision.reason,
    'no schedulable worker has 2 cpu, 0.5 GB memory free (most free: 0 cpu on kim, 0 GB memory on kim); ' +
      'ravi (suspect), tessa (cordoned) have room but take no new tasks',
  );
  // One named alone; more than three are summed up.
  const one = [workers[0] as PlacementWorker, worker('solo', 'flapping', capacity(4, 8))];
  const [single] = pass({ queue: [task({ cpu: 2 })], workers: one });
  assert.match(
    single?.kind === 'wait' ? single.reason : '',
    /; solo \(flapping\) has room but takes no new tasks$/,
  );
  const many = [
    workers[0] as PlacementWorker,
    ...['p', 'q', 'r', 's', 't'].map((id) => worker(id, 'suspect', capacity(4, 8))),
  ];
  const [summed] = pass({ queue: [task({ cpu: 2 })], workers: many });
  assert.match(
    summed?.kind === 'wait' ? summed.reason : '',
    /; p \(suspect\), q \(suspect\), r \(suspect\) and 2 more have room but take no new tasks$/,
  );
  // Nobody held back with room: nothing added.
  const [plain] = pass({
    queue: [task({ cpu: 2 })],
    workers: [workers[0] as PlacementWorker, workers[3] as PlacementWorker],
  });
  assert.not.match(plain?.kind === 'wait' ? plain.reason : '', /room/);
});

/** Two active 8-cpu workers with 6 cpu taken each, and a task that needs a whole one. */
function twoBusyWorkersAndALargeTask() {
  const busy = { cpu: 6, memoryGb: 1, storageGb: 0, gpu: 0 };
  return {
    memory: emptyQueueMemory(),
    workers: [worker('a', 'active', capacity(8, 16), busy), worker('b', 'active', capacity(8, 16), busy)],
    large: task({ cpu: 8 }),
  };
}

test('a worker reserved for a large task loses the reservation when it is cordoned', () => {
  const { memory, workers, large } = twoBusyWorkersAndALargeTask();
  pass({ queue: [large, task({ cpu: 1 })], workers, memory, bypassLimit: 1 });
  pass({ queue: [large, task({ cpu: 1 })], workers, memory, bypassLimit: 1 });
  const reserved = memory.reservations.get(large.taskId);
  assert.ok(reserved, 'the large task reserved a worker');
  const cordoned = workers.map((w) => (w.workerId === reserved ? { ...w, cordoned: true } : w));
  const decisions = pass({ queue: [large, task({ cpu: 1 })], workers: cordoned, memory, bypassLimit: 1 });
  assert.is(
    memory.reservations.get(large.taskId) === reserved,
    false,
    'the cordoned worker is no longer reserved',
  );
  assert.not.ok(
    decisions.some((decision) => decision.kind === 'assign' && decision.workerId === reserved),
    'nothing went to the cordoned worker',
  );
});

test('no overcommit: a task is placed only where every requested resource fits', () => {
  const workers = [worker('a', 'active', capacity(8, 2)), worker('b', 'active', capacity(1, 64))];
  const decisions = pass({ queue: [task({ cpu: 2, memoryGb: 4 })], workers });
  assert.equal(placements(decisions), ['wait']);
  const waiting = decisions[0];
  assert.is(
    waiting?.kind === 'wait' && waiting.reason,
    'no schedulable worker is large enough for 2 cpu, 4 GB memory, 1 GB storage at once',
  );
  const fullish = [
    worker('a', 'active', capacity(8, 16), { cpu: 7, memoryGb: 0, storageGb: 0, gpu: 0 }),
    worker('b', 'active', capacity(8, 16), { cpu: 0, memoryGb: 15, storageGb: 0, gpu: 0 }),
  ];
  const [both] = pass({ queue: [task({ cpu: 2, memoryGb: 4 })], workers: fullish });
  assert.is(
    both?.kind === 'wait' && both.reason,
    'no schedulable worker has 2 cpu, 4 GB memory, 1 GB storage free at once',
  );
  const gpuTask = pass({ queue: [task({ gpu: 1 })], workers });
  assert.is(
    gpuTask[0]?.kind === 'wait' && gpuTask[0].reason,
    'no schedulable worker is large enough for 1 GPU (largest: 0 GPU on a)',
  );
});

test('a waiting task says what is missing: "no schedulable worker has 4 GB memory free"', () => {
  const workers = [
    worker('kim', 'active', capacity(4, 8), { cpu: 1, memoryGb: 6, storageGb: 0, gpu: 0 }),
    worker('tessa', 'inactive', capacity(8, 16)),
  ];
  const [decision] = pass({ queue: [task({ memoryGb: 4 })], workers });
  assert.is(
    decision?.kind === 'wait' && decision.reason,
    'no schedulable worker has 4 GB memory free (most free: 2 GB memory on kim)',
  );
  const [none] = pass({ queue: [task()], workers: [worker('tessa', 'inactive', capacity(8, 16))] });
  assert.is(none?.kind === 'wait' && none.reason, 'no schedulable worker: 1 inactive');
  const [empty] = pass({ queue: [task()], workers: [] });
  assert.is(empty?.kind === 'wait' && empty.reason, 'no worker has registered yet');
});

test('round-robin: ids sorted, starting after the last pick, first that fits, wrapping around', () => {
  const workers = ['c', 'a', 'd', 'b'].map((id) => worker(id, 'active', capacity(8, 16)));
  const policy = createRoundRobinPolicy();
  const decisions = pass({ queue: Array.from({ length: 6 }, () => task()), workers, policy });
  assert.equal(placements(decisions), ['a', 'b', 'c', 'd', 'a', 'b']);
  // The cursor survives between passes; a worker without room is skipped.
  const full = workers.map((w) => (w.workerId === 'c' ? { ...w, allocated: capacity(8, 16) } : w));
  assert.equal(placements(pass({ queue: [task(), task()], workers: full, policy })), ['d', 'a']);
});

test('RTS prefers the lower-risk worker where round-robin would not', () => {
  // `a` is busy (high load, little free: slower and later than the deadline); `b` is idle.
  const candidates: CandidateWorker[] = [
    {
      workerId: 'a',
      capacity: capacity(8, 16),
      allocated: capacity(7, 14),
      free: { cpu: 1, memoryGb: 2, storageGb: 86, gpu: 0 },
    },
    { workerId: 'b', capacity: capacity(8, 16), allocated: NO_RESOURCES, free: capacity(8, 16) },
  ];
  const training = task({ cpu: 1, memoryGb: 2, gpu: 0, type: 'cpu-heavy', k: 1.5 }, NOW);
  const [a, b] = candidates.map((candidate) => scoreRts(training, candidate, NOW, DEFAULT_RTS_PARAMS));
  // τ = 15 s, load of a = (8·7/8 + 1.6·14/16) / 9.6 = 0.875: E = 15·(1 + 0.1 + 0.1 + 0.2·0.875) = 20.625 s.
  assert.ok(Math.abs((a?.runtimeS ?? 0) - 20.625) < 1e-9, `E on a is ${a?.runtimeS}`);
  // Deadline = 1.5·15 = 22.5 s: on time, so risk = β·load.
  assert.ok(Math.abs((a?.risk ?? 0) - 0.875) < 1e-9, `risk on a is ${a?.risk}`);
  assert.ok((b?.risk ?? 1) < (a?.risk ?? 0));
  const rts = rtsPolicy();
  assert.equal(rts.choose(training, candidatesOf(candidates), NOW), { workerId: 'b', policy: 'rts' });
  assert.equal(createRoundRobinPolicy().choose(training, candidatesOf(candidates), NOW), {
    workerId: 'a',
    policy: 'round-robin',
  });

  // A late task: on the busy worker it would overrun its deadline, which α = 10 weighs heavily.
  const late = task({ type: 'cpu-light' }, NOW - 8_000);
  const lateOnA = scoreRts(late, candidates[0] as CandidateWorker, NOW, DEFAULT_RTS_PARAMS);
  assert.ok(lateOnA.overrunS > 0 && lateOnA.risk > 10 * lateOnA.overrunS, JSON.stringify(lateOnA));
});

test('RTS spreads equal tasks over equal workers by load, and falls back to round-robin without scores', () => {
  const workers = ['a', 'b', 'c'].map((id) => worker(id, 'active', capacity(8, 16)));
  const rts = rtsPolicy();
  assert.equal(placements(pass({ queue: [task(), task(), task()], workers, policy: rts })), ['a', 'b', 'c']);
  const broken = createRtsPolicy({ ...DEFAULT_RTS_PARAMS, alpha: Number.NaN }, createRoundRobinPolicy());
  const lateTask = task({}, NOW - 60_000);
  const choice = broken.choose(lateTask, candidatesOf(workers.map((w) => ({ ...w, free: w.capacity }))), NOW);
  assert.equal(choice, { workerId: 'a', policy: 'round-robin' });
});

test('small tasks pass a large one that does not fit yet, until it reserves a worker', () => {
  const { memory, workers, large } = twoBusyWorkersAndALargeTask();
  const small = () => task({ cpu: 1 });
  // Backfilling: the large task waits, the small ones behind it run.
  const first = pass({ queue: [large, small(), small()], workers, memory, bypassLimit: 3 });
  assert.equal(placements(first), ['wait', 'a', 'b']);
  assert.is(memory.bypassed.get(large.taskId), 2);
  const second = pass({ queue: [large, small()], workers, memory, bypassLimit: 3 });
  assert.equal(placements(second), ['wait', 'a']);
  // Passed three times: it reserves the worker nearest to fitting it; younger tasks go elsewhere.
  const third = pass({ queue: [large, small(), small()], workers, memory, bypassLimit: 3 });
  assert.equal(placements(third), ['wait', 'b', 'b']);
  assert.is(memory.reservations.get(large.taskId), 'a');
  const reason = third[0]?.kind === 'wait' ? third[0].reason : '';
  assert.match(reason, /worker a is reserved for it and takes no newer tasks/);
  // Once `a` drains, the large task gets it.
  const drained = [worker('a', 'active', capacity(8, 16)), workers[1] as PlacementWorker];
  assert.equal(placements(pass({ queue: [large, small()], workers: drained, memory, bypassLimit: 3 })), [
    'a',
    'b',
  ]);
  assert.is(memory.reservations.size, 0);
});

test('a task too large for every worker reserves nothing and blocks nobody', () => {
  const memory = emptyQueueMemory();
  const workers = [worker('a', 'active', capacity(8, 16))];
  const huge = task({ cpu: 64 });
  for (let round = 0; round < 5; round++) {
    assert.equal(placements(pass({ queue: [huge, task()], workers, memory, bypassLimit: 1 })), ['wait', 'a']);
  }
  assert.is(memory.reservations.size, 0);
});

test('a worker that did not acknowledge a task is not offered it again while excluded', () => {
  const workers = [worker('a', 'active', capacity(8, 16)), worker('b', 'active', capacity(8, 16))];
  const t = task();
  const decisions = pass({ queue: [t], workers, excludedWorkers: () => ['a'] });
  assert.equal(placements(decisions), ['b']);
  const [stuck] = pass({ queue: [t], workers: workers.slice(0, 1), excludedWorkers: () => ['a'] });
  assert.match(stuck?.kind === 'wait' ? stuck.reason : '', /^no schedulable worker acknowledged it \(a\)/);
});

test('RTS parameters: the original file layout, partial files, and clear errors', () => {
  const params = parseRtsParams(
    JSON.stringify({
      Theta: { Theta4: 0.5 },
      Risk: { Alpha: 20 },
      Tau: { mixed: 30 },
      PenaltyVector: { kim: 2 },
    }),
    'params.json',
  );
  assert.equal(params.theta, [0.1, 0.1, 0.3, 0.5]);
  assert.is(params.alpha, 20);
  assert.is(params.beta, 1);
  assert.is(params.tauSeconds.mixed, 30);
  assert.is(params.tauSeconds['gpu-training'], 60);
  assert.equal(params.penalty, { kim: 2 });
  assert.throws(
    () => parseRtsParams('{ "Theta": ', 'p.json'),
    (error: Error) =>
      error instanceof RtsParamsError &&
      /p\.json is not valid JSON .*start without --rts-params/.test(error.message),
  );
  assert.throws(() => parseRtsParams('{ "Risk": { "Alpha": -1 } }', 'p.json'), /p\.json: Risk\.Alpha: /);
  assert.throws(() => parseRtsParams('{ "Thetta": {} }', 'p.json'), /p\.json: \(top level\): .*Thetta/);
});

test.run();
