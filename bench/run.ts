import { Command, InvalidArgumentError } from 'commander';
import { BENCHMARKS, type Benchmark, isPending } from './registry.js';
import { type BenchParams, formatReport, reportJson } from './support/report.js';
import { BenchResources } from './support/resources.js';

interface RunnerFlags {
  workers?: number;
  seconds?: number;
  quick?: boolean;
}

function positiveInteger(value: string): number {
  const number = Number(value);
  if (!Number.isInteger(number) || number <= 0)
    throw new InvalidArgumentError('expected a positive whole number');
  return number;
}

let current: BenchResources | undefined;

async function runOne(benchmark: Benchmark, flags: RunnerFlags): Promise<boolean> {
  const scale = flags.quick ? benchmark.quick : benchmark.defaults;
  const params: BenchParams = {
    workers: flags.workers ?? scale.workers,
    seconds: flags.seconds ?? scale.seconds,
    quick: flags.quick ?? false,
  };
  const resources = new BenchResources();
  current = resources;
  const startedAt = Date.now();
  process.stdout.write(`\n${benchmark.name}: ${benchmark.summary}\n`);
  try {
    const report = await benchmark.run(params, resources, (line) =>
      process.stdout.write(`  [${((Date.now() - startedAt) / 1_000).toFixed(1)}s] ${line}\n`),
    );
    process.stdout.write(`${formatReport(report)}\n${reportJson(report)}\n`);
    return true;
  } catch (error) {
    process.stdout.write(`${benchmark.name} FAILED: ${(error as Error).stack ?? error}\n`);
    return false;
  } finally {
    await resources.close();
    current = undefined;
  }
}

const program = new Command('bench')
  .description('CloudAI liveness benchmarks: each prints its figures and a same-run baseline')
  .argument(
    '[names...]',
    `benchmarks to run (default all): ${BENCHMARKS.map((entry) => entry.name).join(', ')}`,
  )
  .option('--workers <n>', 'simulated workers (default: each benchmark’s own)', positiveInteger)
  .option('--seconds <s>', 'length of the measured phase (default: each benchmark’s own)', positiveInteger)
  .option('--quick', 'small scale, a few seconds each, no targets judged (what CI runs)')
  .action(async (names: string[], flags: RunnerFlags) => {
    const unknown = names.filter((name) => !BENCHMARKS.some((entry) => entry.name === name));
    if (unknown.length > 0) program.error(`unknown benchmark ${unknown.join(', ')}`);
    const selected = names.length > 0 ? BENCHMARKS.filter((entry) => names.includes(entry.name)) : BENCHMARKS;
    let failed = 0;
    for (const entry of selected) {
      if (isPending(entry)) {
        process.stdout.write(`\n${entry.name}: skipped, ${entry.pendingReason}\n`);
        continue;
      }
      if (!(await runOne(entry, flags))) failed++;
    }
    if (failed > 0) {
      process.stdout.write(`\n${failed} benchmark(s) failed\n`);
      process.exitCode = 1;
    }
  });

// A benchmark interrupted half-way must not leave servers, children or temp dirs behind.
let interrupted = false;
const interrupt = () => {
  if (interrupted || !current) {
    current?.killNow();
    process.exit(130);
  }
  interrupted = true;
  process.stdout.write('\ninterrupted: cleaning up\n');
  void current.close().finally(() => process.exit(130));
};
process.on('SIGINT', interrupt);
process.on('SIGTERM', interrupt);
process.on('exit', () => current?.killNow());

await program.parseAsync(process.argv);
