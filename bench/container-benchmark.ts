import { NO_RESOURCES } from '../projections/resources.js';
import { ContainerRuntime } from '../worker/runtimes/container-runtime.js';
import { ProcessRuntime } from '../worker/runtimes/process-runtime.js';
import type { RunOutcome, RunSpec, TaskRuntime } from '../worker/runtimes/runtime.js';
import type { Benchmark } from './registry.js';
import { PodmanSandbox, TEST_IMAGE } from './support/podman-sandbox.js';
import type { BenchParams, BenchReport, Figure } from './support/report.js';
import type { BenchResources } from './support/resources.js';
import { distribution, ratio, round } from './support/stats.js';

export const containerBenchmark: Benchmark = {
  name: 'containers',
  summary:
    'one task attempt of `true` from start to clean-up: in its image with podman (run, inspect, rm) against sh -c on the host',
  // `workers` is the number of attempts of each kind here.
  defaults: { workers: 20, seconds: 0 },
  quick: { workers: 3, seconds: 0 },
  run: runContainers,
};

const SPEC: RunSpec = {
  taskId: 't-bench',
  attempt: 1,
  workerId: 'bench',
  image: TEST_IMAGE,
  command: 'true',
  requests: { ...NO_RESOURCES, cpu: 1, memoryGb: 0.25 },
  gpuDevices: [],
};

/** Milliseconds from start to the runtime's report that the attempt ended (its container removed). */
async function timeAttempt(runtime: TaskRuntime, attempt: number): Promise<number> {
  const startedAt = performance.now();
  const outcome = await new Promise<RunOutcome>((resolve) =>
    runtime.start({ ...SPEC, attempt }, { onOutput: () => {}, onExit: resolve }),
  );
  if (outcome.outcome !== 'completed') throw new Error(`${runtime.name} attempt failed: ${outcome.reason}`);
  return performance.now() - startedAt;
}

async function runContainers(
  params: BenchParams,
  resources: BenchResources,
  progress: (line: string) => void,
): Promise<BenchReport> {
  const attempts = params.workers;
  const host = new ProcessRuntime();
  const hostMs: number[] = [];
  for (let attempt = 1; attempt <= attempts; attempt++) hostMs.push(await timeAttempt(host, attempt));
  const baseline = distribution(hostMs);
  progress(`sh -c true on the host: median ${round(baseline.p50, 1)} ms over ${attempts}`);
  const report: BenchReport = {
    benchmark: 'containers',
    params: { ...params, attempts },
    figures: [
      {
        key: 'hostP50Ms',
        label: 'sh -c on the host (process runtime), median',
        value: round(baseline.p50, 1),
        unit: 'ms',
      },
    ],
    notes: ['each attempt: start, wait for its exit, clean up; one after another'],
  };
  progress('preparing podman: own storage, runc, a busybox image');
  const sandbox = await PodmanSandbox.start();
  if (!(sandbox instanceof PodmanSandbox)) {
    report.notes.push(`no container figures: podman cannot run a container here (${sandbox.unavailable})`);
    return report;
  }
  resources.defer('podman sandbox', () => sandbox.close());
  // The runtime runs podman with this process's environment: point it at the sandbox meanwhile.
  const saved = Object.fromEntries(Object.keys(sandbox.env).map((key) => [key, process.env[key]]));
  Object.assign(process.env, sandbox.env);
  const containerMs: number[] = [];
  try {
    const podman = new ContainerRuntime('podman');
    // The first run also sets up podman's network and storage state: not a task's cost.
    await timeAttempt(podman, 0);
    for (let attempt = 1; attempt <= attempts; attempt++)
      containerMs.push(await timeAttempt(podman, attempt));
  } finally {
    for (const [key, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  }
  const containers = distribution(containerMs);
  progress(`podman run/inspect/rm of true: median ${round(containers.p50, 1)} ms over ${attempts}`);
  const base = { label: 'sh -c median', value: round(baseline.p50, 1) };
  const figure = (key: string, label: string, value: number): Figure => ({
    key,
    label,
    value: round(value, 1),
    unit: 'ms',
    baseline: base,
    ratio: ratio(value, baseline.p50),
  });
  report.figures.push(
    figure('containerP50Ms', 'in its image with podman (runc), median', containers.p50),
    figure('containerMaxMs', 'in its image with podman (runc), slowest', containers.max),
    figure('overheadP50Ms', 'container overhead per attempt, median', containers.p50 - baseline.p50),
  );
  return report;
}
