import { type IntervalHistogram, monitorEventLoopDelay } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, millis } from '@nats-io/transport-node';
import { open } from 'lmdb';
import type { BenchResources } from './resources.js';
import { type Distribution, distribution, round } from './stats.js';

const PROBE_STREAM = 'BENCH_PROBE';

export interface BaselineLatencies {
  /** How late this process's event loop ran callbacks: the floor under any timer's delay. */
  eventLoopDelay: Distribution;
  /** One JetStream publish and its acknowledgement, on the same server under the same load. */
  jetStreamAck: Distribution;
  /** One small LMDB write transaction committed, in a scratch environment of this process. */
  lmdbCommit: Distribution;
}

/**
 * Same-run baselines for the detection delays: while the benchmark's own measurement runs,
 * these probes time the three things a detection waits on (the event loop, a JetStream round
 * trip, an LMDB commit) every `everyMs`, each on its own, with nothing of the fleet in between.
 */
export async function startBaselineProbes(
  resources: BenchResources,
  natsUrl: string,
  options: { everyMs: number },
): Promise<{ stop: () => Promise<BaselineLatencies> }> {
  const loopDelay = monitorEventLoopDelay({ resolution: 1 });
  loopDelay.enable();
  const nc = await connect({ servers: natsUrl, name: 'cloudai-bench-probe', noAsyncTraces: true });
  resources.defer('probe connection', () => nc.close());
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: PROBE_STREAM, subjects: ['bench.probe'], max_msgs: 10_000 });
  const js = jetstream(nc);
  const env = open({ path: resources.tempDir('lmdb-probe') });
  resources.defer('probe LMDB', () => env.close());
  const ackMs: number[] = [];
  const commitMs: number[] = [];
  let running = true;
  const loop = (async () => {
    for (let index = 0; running && index < 100_000; index++) {
      const ackStart = performance.now();
      await js.publish('bench.probe', new Uint8Array(64));
      ackMs.push(performance.now() - ackStart);
      const commitStart = performance.now();
      await env.put(`probe-${index % 100}`, { index });
      commitMs.push(performance.now() - commitStart);
      await sleep(options.everyMs);
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      loopDelay.disable();
      return {
        eventLoopDelay: loopDelayDistribution(loopDelay),
        jetStreamAck: distribution(ackMs),
        lmdbCommit: distribution(commitMs),
      };
    },
  };
}

/** An event-loop delay histogram (nanoseconds) as a distribution in milliseconds. */
export function loopDelayDistribution(loopDelay: IntervalHistogram): Distribution {
  return {
    count: loopDelay.count,
    p50: round(millis(loopDelay.percentile(50)), 2),
    p99: round(millis(loopDelay.percentile(99)), 2),
    max: round(millis(loopDelay.max), 2),
  };
}
