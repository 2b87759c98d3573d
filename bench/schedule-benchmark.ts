import { DEFAULT_CONFIG } from '../cli/config.js';
import {
  addResources,
  fitsWithin,
  NO_RESOURCES,
  type Resources,
  requestsOf,
  subtractResources,
} from '../projections/resources.js';
import type { TaskDocument } from '../projections/task-document.js';
import { emptyQueueMemory, type PlacementWorker, planPass } from '../scheduler/placement.js';
import { createPolicy } from '../scheduler/policies/create-policy.js';
import { DEFAULT_RTS_PARAMS } from '../scheduler/policies/rts-params.js';
import { validateTaskRequest } from '../scheduler/task-model.js';
import { BENCH_WORKER_PREFIX, workerIdFor } from './load/load-protocol.js';
import type { Benchmark } from './registry.js';
import type { BenchParams, BenchReport } from './support/report.js';
import { distribution, ratio, round } from './support/stats.js';
import { atTargetScale, judge, TARGETS } from './targets.js';

/** The scale: 10 000 active workers and 10 000 submissions. */
const TARGET_SCHEDULE_WORKERS = 10_000;
/** Submissions timed one pass each (every pass scans all workers, so not all 10 000). */
const TIMED_SUBMISSIONS = { full: 1_000, quick: 100 };

export const scheduleBenchmark: Benchmark = {
  name: 'schedule',
  summary:
    'the placement pass (pure, no NATS) with N active workers: a queue of N submissions at once, and ' +
    'submissions one pass each, against a plain first-fit loop',
  defaults: { workers: TARGET_SCHEDULE_WORKERS, seconds: 0 },
  quick: { workers: 500, seconds: 0 },
  run: runSchedule,
};

async function runSchedule(
  params: BenchParams,
  _resources: unknown,
  progress: (line: string) => void,
): Promise<BenchReport> {
  const submissions = params.workers;
  const tasks = Array.from({ length: submissions }, (_, index) => taskOf(index));
  const policy = createPolicy(DEFAULT_CONFIG.policy, DEFAULT_RTS_PARAMS);
  const pass = (queue: readonly TaskDocument[], workers: readonly PlacementWorker[]) =>
    planPass({
      queue,
      workers,
      isExcluded: () => false,
      policy,
      now: Date.now(),
      bypassLimit: DEFAULT_CONFIG.queueBypassLimit,
      memory: emptyQueueMemory(),
    });

  progress(`one pass over ${submissions} queued submissions, ${params.workers} active workers`);
  const queueStart = performance.now();
  const placed = pass(tasks, workersOf(params.workers)).filter(
    (decision) => decision.kind === 'assign',
  ).length;
  const queueMs = performance.now() - queueStart;
  const baselineStart = performance.now();
  const baselinePlaced = firstFit(tasks, workersOf(params.workers));
  const baselineMs = performance.now() - baselineStart;

  const timed = Math.min(submissions, params.quick ? TIMED_SUBMISSIONS.quick : TIMED_SUBMISSIONS.full);
  progress(`${timed} submissions, one pass each`);
  const workers = workersOf(params.workers);
  const byId = new Map(workers.map((worker) => [worker.workerId, worker]));
  const passMs: number[] = [];
  for (const task of tasks.slice(0, timed)) {
    const started = performance.now();
    const decision = pass([task], workers)[0];
    passMs.push(performance.now() - started);
    // The placed task holds its share, as the tasks projection would record.
    const worker = decision?.kind === 'assign' ? byId.get(decision.workerId) : undefined;
    if (worker) worker.allocated = addResources(worker.allocated, requestsOf(task));
  }
  const baselineWorkers = workersOf(params.workers);
  const baselineMsEach: number[] = [];
  for (const task of tasks.slice(0, timed)) {
    const started = performance.now();
    firstFit([task], baselineWorkers);
    baselineMsEach.push(performance.now() - started);
  }
  const latency = distribution(passMs);
  const baselineLatency = distribution(baselineMsEach);
  const atScale = atTargetScale(params, TARGET_SCHEDULE_WORKERS);
  const perSecond = (count: number, ms: number) => (count / ms) * 1_000;
  return {
    benchmark: 'schedule',
    params: { ...params, submissions, timedSubmissions: timed, policy: DEFAULT_CONFIG.policy },
    figures: [
      {
        key: 'placementsPerSecond',
        label: `placements/s, ${submissions} queued at once`,
        value: round(perSecond(placed, queueMs)),
        unit: '/s',
        baseline: { label: 'first-fit loop', value: round(perSecond(baselinePlaced, baselineMs)) },
        ratio: ratio(perSecond(placed, queueMs), perSecond(baselinePlaced, baselineMs)),
      },
      {
        key: 'placementP50Ms',
        label: 'placement pass for one submission p50',
        value: round(latency.p50, 2),
        unit: 'ms',
        baseline: { label: 'first-fit p50', value: round(baselineLatency.p50, 3) },
        ratio: ratio(latency.p50, baselineLatency.p50),
      },
      {
        key: 'placementP99Ms',
        label: 'placement pass for one submission p99',
        value: round(latency.p99, 2),
        unit: 'ms',
        baseline: { label: 'first-fit p99', value: round(baselineLatency.p99, 3) },
        ratio: ratio(latency.p99, baselineLatency.p99),
        target: {
          text: `p99 ≤ ${TARGETS.placementP99Ms} ms`,
          met: judge(atScale, latency.p99 <= TARGETS.placementP99Ms),
        },
      },
    ],
    notes: [
      `${placed} of ${submissions} placed in one pass (first fit: ${baselinePlaced})`,
      'this times the placement decision alone (scheduler/placement.ts, the configured policy), not a ' +
        'submission travelling through NATS, JetStream and the scheduler service to its TaskAssigned event',
    ],
  };
}

/** Active workers of one shape, large enough for many tasks each. */
function workersOf(count: number): PlacementWorker[] {
  return Array.from({ length: count }, (_, index) => ({
    workerId: workerIdFor(BENCH_WORKER_PREFIX, index),
    status: 'active' as const,
    flapping: false,
    cordoned: false,
    capacity: { cpu: 32, memoryGb: 128, storageGb: 1_000, gpu: index % 4 === 0 ? 4 : 0 },
    allocated: NO_RESOURCES,
  }));
}

/** Submissions of a few sizes, as `cloudai task submit` would store them. */
function taskOf(index: number): TaskDocument {
  const request = {
    image: 'bench:latest',
    cpu: 1 + (index % 4),
    memoryGb: 2 * (1 + (index % 3)),
    gpu: index % 10 === 0 ? 1 : 0,
  };
  const validated = validateTaskRequest(request, index);
  if (!validated.ok) throw new Error(validated.problems.map((problem) => problem.message).join('; '));
  return {
    ...validated.task,
    taskId: `t${String(index).padStart(6, '0')}`,
    status: 'queued',
    attempt: 1,
    workerId: null,
    statusSince: index,
    basedOnWorkerSeq: null,
    exitCode: null,
    history: [],
  };
}

/** The baseline: the first worker, in order, with room for the task. */
function firstFit(tasks: readonly TaskDocument[], workers: PlacementWorker[]): number {
  let placed = 0;
  for (const task of tasks) {
    const requests: Resources = requestsOf(task);
    const worker = workers.find((candidate) =>
      fitsWithin(requests, subtractResources(candidate.capacity, candidate.allocated)),
    );
    if (!worker) continue;
    worker.allocated = addResources(worker.allocated, requests);
    placed++;
  }
  return placed;
}
