import { fileURLToPath } from 'node:url';
import type { MemoryProbeKind, MemoryProbeResult } from './memory-probe.js';
import type { Benchmark } from './registry.js';
import { runChild } from './support/child-process.js';
import type { BenchParams, BenchReport } from './support/report.js';
import type { BenchResources } from './support/resources.js';
import { ratio, round } from './support/stats.js';
import { atTargetScale, judge, TARGET_WORKERS, TARGETS } from './targets.js';

const PROBE = fileURLToPath(new URL('./memory-probe.js', import.meta.url));

export const memoryBenchmark: Benchmark = {
  name: 'memory',
  summary:
    'memory (heap + array buffers) per tracked worker after GC: the fleet (actor per worker) against a Map of plain records',
  defaults: { workers: TARGET_WORKERS, seconds: 0 },
  quick: { workers: 5_000, seconds: 0 },
  run: runMemory,
};

async function runMemory(
  params: BenchParams,
  resources: BenchResources,
  progress: (line: string) => void,
): Promise<BenchReport> {
  // Each in a fresh process, so neither inherits the other's heap.
  const probe = async (kind: MemoryProbeKind) => {
    progress(`${kind}: ${params.workers} workers`);
    const result = await runChild(
      resources,
      process.execPath,
      ['--expose-gc', PROBE, kind, String(params.workers)],
      {
        timeoutMs: 300_000,
      },
    );
    if (result.exitCode !== 0) throw new Error(`memory probe ${kind} failed: ${result.stderr.trim()}`);
    return JSON.parse(result.stdout) as MemoryProbeResult;
  };
  const fleet = await probe('fleet');
  const plain = await probe('map');
  const atScale = atTargetScale(params);
  return {
    benchmark: 'memory',
    params,
    figures: [
      {
        key: 'heapBytesPerWorker',
        label: 'memory per tracked worker',
        value: round(fleet.bytesPerWorker, 0),
        unit: 'B',
        baseline: { label: 'Map of plain records + a timer each', value: round(plain.bytesPerWorker, 0) },
        ratio: ratio(fleet.bytesPerWorker, plain.bytesPerWorker),
        target: {
          text: `≤ ${TARGETS.heapBytesPerWorker} B`,
          met: judge(atScale, fleet.bytesPerWorker <= TARGETS.heapBytesPerWorker),
        },
      },
      {
        key: 'heapMegabytes',
        label: 'memory of all tracked workers',
        value: round(fleet.heapBytes / 1_048_576, 1),
        unit: 'MiB',
        baseline: { label: 'Map of plain records', value: round(plain.heapBytes / 1_048_576, 1) },
        ratio: ratio(fleet.heapBytes, plain.heapBytes),
      },
    ],
    notes: [
      'heapUsed + arrayBuffers (a φ window lives in an array buffer) after repeated full GCs, minus the same before the workers were created; each worker has ' +
        'beaten twice (a decoded heartbeat each time) and has its timeout pending',
    ],
  };
}
