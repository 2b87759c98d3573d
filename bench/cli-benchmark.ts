import { closeSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ReadModel } from '../projections/read-model.js';
import { NO_RESOURCES } from '../projections/resources.js';
import { startUptime } from '../projections/uptime.js';
import type { WorkerDocument } from '../projections/worker-document.js';
import { WORKER_EVENTS_STREAM } from '../streams/contracts/subjects.js';
import { projectRoot } from '../streams/util/project-root.js';
import { BENCH_WORKER_PREFIX, workerIdFor } from './load/load-protocol.js';
import type { Benchmark } from './registry.js';
import { runChild } from './support/child-process.js';
import type { BenchParams, BenchReport, Figure } from './support/report.js';
import type { BenchResources } from './support/resources.js';
import { ratio, round } from './support/stats.js';
import { atTargetScale, judge, TARGET_WORKERS, TARGETS } from './targets.js';

const RUNS = 3;
const WRITE_BATCH = 10_000;

export const cliBenchmark: Benchmark = {
  name: 'cli',
  summary:
    'whole-process time of `cloudai workers --json` and of the table with N workers in the read model, against `node -e 0`',
  defaults: { workers: TARGET_WORKERS, seconds: 0 },
  quick: { workers: 2_000, seconds: 0 },
  run: runCli,
};

async function runCli(
  params: BenchParams,
  resources: BenchResources,
  progress: (line: string) => void,
): Promise<BenchReport> {
  // The CLI reads only LMDB, so no nats-server is needed: the read model is filled directly.
  const dataDir = resources.tempDir('data');
  progress(`writing ${params.workers} worker documents to the read model`);
  await fillReadModel(dataDir, params.workers);

  const cli = join(projectRoot(), 'dist', 'cli', 'main.js');
  const outputFile = join(resources.tempDir('out'), 'stdout');
  // Best of RUNS: the machine is shared, and the slow runs measure the neighbours, not the CLI.
  const bestOf = async (label: string, args: string[]) => {
    let best = Number.POSITIVE_INFINITY;
    for (let run = 0; run < RUNS; run++) {
      // Output goes to a file, as `> file` would: a pipe read by this process would time this process too.
      const output = openSync(outputFile, 'w');
      try {
        const result = await runChild(resources, process.execPath, args, {
          timeoutMs: 120_000,
          stdoutTo: output,
        });
        if (result.exitCode !== 0) throw new Error(`${label} failed: ${result.stderr.trim()}`);
        best = Math.min(best, result.wallMs);
      } finally {
        closeSync(output);
      }
    }
    progress(`${label}: best of ${RUNS} ${round(best, 1)} ms`);
    return best;
  };
  const bare = await bestOf('node -e 0', ['-e', '0']);
  const json = await bestOf('workers --json', [cli, 'workers', '--json', '--data-dir', dataDir]);
  const listed = (JSON.parse(readFileSync(outputFile, 'utf8')) as WorkerDocument[]).length;
  if (listed !== params.workers)
    throw new Error(`workers --json listed ${listed} of ${params.workers} workers`);
  const table = await bestOf('workers (table)', [cli, 'workers', '--data-dir', dataDir]);
  const help = await bestOf('--help', [cli, '--help']);

  const atScale = atTargetScale(params);
  const figure = (key: string, label: string, value: number, target?: Figure['target']): Figure => ({
    key,
    label,
    value: round(value, 1),
    unit: 'ms',
    baseline: { label: 'node -e 0', value: round(bare, 1) },
    ratio: ratio(value, bare),
    ...(target ? { target } : {}),
  });
  return {
    benchmark: 'cli',
    params,
    figures: [
      figure('workersJsonMs', `cloudai workers --json (${params.workers} workers)`, json, {
        text: `≤ ${TARGETS.cliJsonMs} ms`,
        met: judge(atScale, json <= TARGETS.cliJsonMs),
      }),
      figure('workersTableMs', `cloudai workers (table, ${params.workers} workers)`, table),
      figure('helpMs', 'cloudai --help (start-up alone)', help),
    ],
    notes: [`whole process, spawn to exit, best of ${RUNS}; stdout to a file`],
  };
}

async function fillReadModel(dataDir: string, workers: number): Promise<void> {
  const readModel = ReadModel.open({ dataDir });
  try {
    const now = Date.now();
    for (let start = 0; start < workers; start += WRITE_BATCH) {
      await readModel.write(() => {
        for (let index = start; index < Math.min(workers, start + WRITE_BATCH); index++) {
          readModel.putWorker(documentOf(index, now));
        }
      });
    }
    await readModel.write(() => readModel.setPosition(WORKER_EVENTS_STREAM, workers));
  } finally {
    await readModel.close();
  }
}

function documentOf(index: number, now: number): WorkerDocument {
  // One in ten inactive, so the table shows both kinds.
  const status = index % 10 === 0 ? 'inactive' : 'active';
  return {
    workerId: workerIdFor(BENCH_WORKER_PREFIX, index),
    status,
    address: `10.0.${(index >> 8) & 255}.${index & 255}:50052`,
    capacity: { cpu: 8, memoryGb: 16, storageGb: 100, gpu: index % 4 === 0 ? 1 : 0 },
    usage: { cpu: 0.31, memory: 0.42, storage: 0.1, gpu: 0 },
    lastHeartbeatAt: now - (index % 5_000),
    statusSince: now - 60_000,
    registeredAt: now - 3_600_000,
    flapping: false,
    cordoned: false,
    lastEventSeq: index % 10 === 0 ? 2 : 1,
    allocated: NO_RESOURCES,
    taskIds: [],
    // The size of a steady worker's record (ended stretches only: the current one is added when read).
    uptime: startUptime({ status, since: now - 60_000 }),
  };
}
