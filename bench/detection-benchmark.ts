import { setTimeout as sleep } from 'node:timers/promises';
import type { WorkerStreamEvent } from '../streams/contracts/worker-events.js';
import { firstWorkerIds } from './load/load-protocol.js';
import type { Benchmark } from './registry.js';
import { scenarioTiming, startFleetScenario } from './support/fleet-scenario.js';
import { startBaselineProbes } from './support/latency-probes.js';
import { type BenchParams, type BenchReport, type Figure, mustBeZero } from './support/report.js';
import type { BenchResources } from './support/resources.js';
import { type Distribution, distribution, pollUntil, ratio, round } from './support/stats.js';
import { atTargetScale, judge, TARGET_WORKERS, TARGETS } from './targets.js';

const STOP_SPACING_MS = 20;

interface Detection {
  /** When the worker's timeout expired: its last heartbeat's receive time + the timeout (the event's `at`). */
  expiredAt: number;
  actorInactiveAt?: number;
  acknowledgedAt?: number;
  inReadModelAt?: number;
}

export const detectionBenchmark: Benchmark = {
  name: 'detection',
  summary:
    'K of N workers stop at known times; delay from each timeout expiry to its actor inactive, ' +
    'WorkerInactive acknowledged by JetStream, and the read model showing it',
  defaults: { workers: TARGET_WORKERS, seconds: 0 },
  quick: { workers: 2_000, seconds: 0 },
  run: runDetection,
};

async function runDetection(
  params: BenchParams,
  resources: BenchResources,
  progress: (line: string) => void,
): Promise<BenchReport> {
  const { intervalMs, heartbeatTimeoutMs } = scenarioTiming(params.quick);
  const stopCount = Math.max(1, Math.min(params.quick ? 20 : 200, Math.floor(params.workers / 10)));
  const stoppedIds = firstWorkerIds(stopCount);
  const detections = new Map<string, Detection>();
  let falseInactive = 0;
  const record = (
    event: WorkerStreamEvent,
    stage: 'actorInactiveAt' | 'acknowledgedAt' | 'inReadModelAt',
  ) => {
    if (event.type !== 'WorkerInactive') return;
    if (!stoppedIds.has(event.workerId)) {
      if (stage === 'actorInactiveAt') falseInactive++;
      return;
    }
    const detection = detections.get(event.workerId) ?? { expiredAt: event.at };
    detections.set(event.workerId, detection);
    detection[stage] = Date.now();
  };
  const scenario = await startFleetScenario(resources, {
    workers: params.workers,
    timing: { intervalMs, heartbeatTimeoutMs },
    progress,
    observers: {
      onTransition: (event) => record(event, 'actorInactiveAt'),
      onStored: (event) => record(event, 'acknowledgedAt'),
      onApplied: (event) => record(event, 'inReadModelAt'),
    },
  });
  const { load } = scenario;

  const probes = await startBaselineProbes(resources, scenario.natsUrl, { everyMs: 50 });
  progress(`stopping ${stopCount} workers, one every ${STOP_SPACING_MS} ms`);
  for (let index = 0; index < stopCount; index++) {
    await load.stopWorkers(index, 1);
    await sleep(STOP_SPACING_MS);
  }
  const allSeen = await pollUntil(
    () =>
      [...detections.values()].filter((detection) => detection.inReadModelAt !== undefined).length >=
      stopCount,
    heartbeatTimeoutMs + 2 * intervalMs + 20_000,
  );
  const baselines = await probes.stop();
  await scenario.stopLoad();

  const delays = (pick: (detection: Detection) => number | undefined) =>
    distribution(
      [...detections.values()].flatMap((detection) => {
        const at = pick(detection);
        return at === undefined ? [] : [Math.max(0, at - detection.expiredAt)];
      }),
    );
  const toActor = delays((detection) => detection.actorInactiveAt);
  const toAck = delays((detection) => detection.acknowledgedAt);
  const toReadModel = delays((detection) => detection.inReadModelAt);
  const atScale = atTargetScale(params);
  const figures: Figure[] = [
    ...percentileFigures('toActor', 'to actor inactive', toActor, {
      label: 'event-loop delay',
      distribution: baselines.eventLoopDelay,
    }),
    ...percentileFigures(
      'toAck',
      'to WorkerInactive acknowledged',
      toAck,
      { label: 'one JetStream publish + ack', distribution: baselines.jetStreamAck },
      p99Target(TARGETS.detectionToAckP99Ms, toAck, atScale),
    ),
    ...percentileFigures(
      'toReadModel',
      'to read model shows it',
      toReadModel,
      { label: 'one LMDB commit', distribution: baselines.lmdbCommit },
      p99Target(TARGETS.detectionToReadModelP99Ms, toReadModel, atScale),
    ),
    {
      key: 'detected',
      label: 'stopped workers seen inactive in the read model',
      value: toReadModel.count,
      unit: 'workers',
      baseline: { label: 'stopped', value: stopCount },
      ratio: ratio(toReadModel.count, stopCount),
    },
    mustBeZero(
      {
        key: 'falseInactive',
        label: 'running workers declared inactive',
        value: falseInactive,
        unit: 'workers',
      },
      atScale,
    ),
  ];
  return {
    benchmark: 'detection',
    params: { ...params, intervalMs, heartbeatTimeoutMs, stopped: stopCount },
    figures,
    notes: [
      'each delay is measured from the instant the timeout expired (last heartbeat received + timeout), ' +
        'with Date.now() (1 ms resolution)',
      'baselines probed every 50 ms during the same window on the same server and process; ' +
        `${allSeen ? 'all stopped workers were detected' : 'NOT all stopped workers were detected in time'}`,
    ],
  };
}

const QUANTILE_KEYS = { p50: 'P50', p99: 'P99', max: 'Max' } as const;

function p99Target(limitMs: number, measured: Distribution, atScale: boolean): Figure['target'] {
  return { text: `p99 ≤ ${limitMs} ms`, met: judge(atScale, measured.p99 <= limitMs) };
}

function percentileFigures(
  key: string,
  label: string,
  measured: Distribution,
  baseline: { label: string; distribution: Distribution },
  p99Target?: Figure['target'],
): Figure[] {
  return (['p50', 'p99', 'max'] as const).map((quantile) => ({
    key: `${key}${QUANTILE_KEYS[quantile]}Ms`,
    label: `${label} ${quantile}`,
    value: round(measured[quantile], 1),
    unit: 'ms',
    baseline: { label: `${baseline.label} ${quantile}`, value: round(baseline.distribution[quantile], 2) },
    ratio: ratio(measured[quantile], baseline.distribution[quantile]),
    ...(quantile === 'p99' && p99Target ? { target: p99Target } : {}),
  }));
}
