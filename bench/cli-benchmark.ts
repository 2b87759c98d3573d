import { closeSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { WorkerDocument } from '../projections/worker-document.js';
import { projectRoot } from '../streams/util/project-root.js';
import type { Benchmark } from './registry.js';
import { runChild } from './support/child-process.js';
import { fillReadModel } from './support/read-model-fill.js';
import type { BenchParams, BenchReport, Figure } from './support/report.js';
import type { BenchResources } from './support/resources.js';
import { ratio, round } from './support/stats.js';
import { atTargetScale, judge, TARGET_WORKERS, TARGETS } from './targets.js';

const RUNS = 3;

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
