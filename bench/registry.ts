import { cliBenchmark } from './cli-benchmark.js';
import { containerBenchmark } from './container-benchmark.js';
import { dashboardBenchmark } from './dashboard-benchmark.js';
import { detectionBenchmark } from './detection-benchmark.js';
import { failoverBenchmark } from './failover-benchmark.js';
import { ingestBenchmark } from './ingest-benchmark.js';
import { massFailureBenchmark } from './mass-failure-benchmark.js';
import { memoryBenchmark } from './memory-benchmark.js';
import { scaleOutBenchmark } from './scale-out-benchmark.js';
import { scheduleBenchmark } from './schedule-benchmark.js';
import { scheduleE2eBenchmark } from './schedule-e2e-benchmark.js';
import type { BenchParams, BenchReport } from './support/report.js';
import type { BenchResources } from './support/resources.js';

/** One benchmark: how to run it at full and at --quick scale. */
export interface Benchmark {
  name: string;
  summary: string;
  /** The scale of a plain run (the issue's), overridable by --workers and --seconds. */
  defaults: { workers: number; seconds: number };
  /** The scale of --quick: small, a few seconds, run by CI so the benchmarks never rot. */
  quick: { workers: number; seconds: number };
  /** Runs once; everything it starts goes into `resources`, which the runner closes. */
  run(params: BenchParams, resources: BenchResources, progress: (line: string) => void): Promise<BenchReport>;
}

/** A benchmark whose subject is not on this branch yet; listed so the runner says so instead of forgetting it. */
export interface PendingBenchmark {
  name: string;
  summary: string;
  pendingReason: string;
}

export type BenchmarkEntry = Benchmark | PendingBenchmark;

export function isPending(entry: BenchmarkEntry): entry is PendingBenchmark {
  return 'pendingReason' in entry;
}

/** Every benchmark, in the order `npm run bench` runs them. */
export const BENCHMARKS: readonly BenchmarkEntry[] = [
  ingestBenchmark,
  memoryBenchmark,
  detectionBenchmark,
  massFailureBenchmark,
  cliBenchmark,
  scheduleBenchmark,
  containerBenchmark,
  scheduleE2eBenchmark,
  dashboardBenchmark,
  failoverBenchmark,
  scaleOutBenchmark,
];
