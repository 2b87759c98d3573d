import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import type { WorkerStreamEvent } from '../streams/contracts/worker-events.js';
import { firstWorkerIds } from './load/load-protocol.js';
import type { Benchmark } from './registry.js';
import { deliveryFigures, heartbeatsReceived } from './support/control-plane.js';
import { scenarioTiming, startFleetScenario } from './support/fleet-scenario.js';
import { type BenchParams, type BenchReport, mustBeZero } from './support/report.js';
import type { BenchResources } from './support/resources.js';
import { pollUntil, ratio, round } from './support/stats.js';
import { atTargetScale, judge, TARGET_WORKERS, TARGETS } from './targets.js';

const FAILING_SHARE = 0.1;

export const massFailureBenchmark: Benchmark = {
  name: 'mass-failure',
  summary:
    '10% of N workers stop at the same instant: time until all are inactive in the read model, ' +
    'and the others never missed',
  defaults: { workers: TARGET_WORKERS, seconds: 0 },
  quick: { workers: 2_000, seconds: 0 },
  run: runMassFailure,
};

async function runMassFailure(
  params: BenchParams,
  resources: BenchResources,
  progress: (line: string) => void,
): Promise<BenchReport> {
  const { intervalMs, heartbeatTimeoutMs } = scenarioTiming(params.quick);
  const failing = Math.max(1, Math.floor(params.workers * FAILING_SHARE));
  const failingIds = firstWorkerIds(failing);
  let survivorsDeclaredInactive = 0;
  let latestExpiry = 0;
  let appliedCount = 0;
  let lastAppliedAt = 0;
  const isFailureOfInterest = (event: WorkerStreamEvent) =>
    event.type === 'WorkerInactive' && failingIds.has(event.workerId);
  const scenario = await startFleetScenario(resources, {
    workers: params.workers,
    timing: { intervalMs, heartbeatTimeoutMs },
    progress,
    observers: {
      onTransition: (event) => {
        if (event.type === 'WorkerInactive' && !failingIds.has(event.workerId)) survivorsDeclaredInactive++;
        if (isFailureOfInterest(event)) latestExpiry = Math.max(latestExpiry, event.at);
      },
      onApplied: (event) => {
        if (!isFailureOfInterest(event)) return;
        appliedCount++;
        lastAppliedAt = Date.now();
      },
    },
  });
  const { controlPlane, disconnects } = scenario;

  progress(`baseline: ${failing} events published to JetStream at once, nothing else`);
  const rawPublishMs = await rawPublishBurst(scenario.natsUrl, failing);

  const stoppedAt = await scenario.load.stopWorkers(0, failing);
  progress(`stopped ${failing} workers at once; waiting for all of them to be inactive in the read model`);
  const allInactive = await pollUntil(
    () => appliedCount >= failing,
    heartbeatTimeoutMs + intervalMs + 30_000,
  );
  const { sent } = await scenario.stopLoad();
  // Both count from the start of the load: whatever was sent has reached the server by now.
  await pollUntil(() => heartbeatsReceived(controlPlane) >= sent, 5_000);
  const survivorsActive = controlPlane.fleet.countByStatus().active;

  const allInactiveAfterStopMs = lastAppliedAt - stoppedAt;
  const afterLastExpiryMs = lastAppliedAt - latestExpiry;
  const atScale = atTargetScale(params);
  return {
    benchmark: 'mass-failure',
    params: { ...params, intervalMs, heartbeatTimeoutMs, failing },
    figures: [
      {
        key: 'allInactiveAfterStopMs',
        label: `all ${failing} inactive in the read model, after the stop`,
        value: allInactive ? allInactiveAfterStopMs : Number.NaN,
        unit: 'ms',
        baseline: { label: 'heartbeat timeout', value: heartbeatTimeoutMs },
        ratio: ratio(allInactiveAfterStopMs, heartbeatTimeoutMs),
        target: {
          text: `≤ timeout + ${TARGETS.massFailureSlackMs} ms`,
          met: judge(
            atScale,
            allInactive && allInactiveAfterStopMs <= heartbeatTimeoutMs + TARGETS.massFailureSlackMs,
          ),
        },
      },
      {
        key: 'afterLastExpiryMs',
        label: 'from the last timeout expiry to all in the read model',
        value: allInactive ? afterLastExpiryMs : Number.NaN,
        unit: 'ms',
        baseline: { label: `${failing} bare JetStream publishes at once`, value: round(rawPublishMs, 1) },
        ratio: ratio(afterLastExpiryMs, rawPublishMs),
      },
      mustBeZero(
        {
          key: 'survivorsDeclaredInactive',
          label: 'surviving workers declared inactive',
          value: survivorsDeclaredInactive,
          unit: 'workers',
        },
        atScale,
      ),
      ...deliveryFigures(
        {
          sent,
          received: heartbeatsReceived(controlPlane),
          slowConsumerEvents: disconnects.count + resources.slowConsumerLogLines,
        },
        atScale,
      ),
      {
        key: 'survivorsActive',
        label: 'workers active at the end',
        value: survivorsActive,
        unit: 'workers',
        baseline: { label: 'survivors', value: params.workers - failing },
        ratio: ratio(survivorsActive, params.workers - failing),
      },
    ],
    notes: [
      'the failing workers stop at one instant, but their last heartbeats were spread over the interval ' +
        'before it, so their timeouts expire over that interval: the first figure includes that spread',
      allInactive
        ? 'all failed workers reached the read model'
        : 'NOT all failed workers reached the read model in time',
    ],
  };
}

/** How long JetStream takes to store `count` small messages published at once (promises batched). */
async function rawPublishBurst(natsUrl: string, count: number): Promise<number> {
  const nc = await connect({ servers: natsUrl, name: 'cloudai-bench-burst', noAsyncTraces: true });
  try {
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: 'BENCH_BURST', subjects: ['bench.burst.>'] });
    const js = jetstream(nc);
    const payload = new TextEncoder().encode(
      JSON.stringify({
        type: 'WorkerInactive',
        workerId: 'w000000',
        at: 0,
        seq: 2,
        lastHeartbeatAt: 0,
        silentForMs: 0,
      }),
    );
    const startedAt = performance.now();
    await Promise.all(
      Array.from({ length: count }, (_, index) =>
        js.publish(`bench.burst.w${index}`, payload, { msgID: `w${index}:2`, timeout: 30_000 }),
      ),
    );
    return performance.now() - startedAt;
  } finally {
    await nc.close();
  }
}
