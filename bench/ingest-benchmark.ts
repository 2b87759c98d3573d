import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import { DEFAULT_CONFIG } from '../cli/config.js';
import { HEARTBEAT_WILDCARD } from '../streams/contracts/subjects.js';
import type { HeartbeatLoad } from './load/heartbeat-load-client.js';
import { type LoadTarget, RAW_SUBJECT_PREFIX } from './load/load-protocol.js';
import type { Benchmark } from './registry.js';
import { deliveryFigures, heartbeatsReceived } from './support/control-plane.js';
import { startFleetScenario, startHeartbeatFleet } from './support/fleet-scenario.js';
import { loopDelayDistribution } from './support/latency-probes.js';
import { cpuWindow, measureRate } from './support/rate.js';
import { type BenchParams, mustBeZero } from './support/report.js';
import type { BenchResources } from './support/resources.js';
import { pollUntil, ratio, round } from './support/stats.js';
import { atTargetScale, judge, TARGET_WORKERS, TARGETS } from './targets.js';

// The flood keeps at most this many heartbeats in flight beyond what the consumer has taken,
// so a slow consumer slows the publisher instead of making the server drop messages.
const FLOOD_WINDOW = 20_000;
const QUICK_INTERVAL_MS = 1_000;

export const ingestBenchmark: Benchmark = {
  name: 'ingest',
  summary:
    'N workers heartbeating through the real control plane (validation, actor, projector); ' +
    'sustained rate, drops, CPU, and peak rate against a raw subscriber that only parses JSON',
  defaults: { workers: TARGET_WORKERS, seconds: TARGETS.sustainedSeconds },
  quick: { workers: 2_000, seconds: 3 },
  run: runIngest,
};

async function runIngest(params: BenchParams, resources: BenchResources, progress: (line: string) => void) {
  // --quick beats every second so that a few seconds see every worker several times.
  const intervalMs = params.quick ? QUICK_INTERVAL_MS : DEFAULT_CONFIG.heartbeatIntervalMs;
  const heartbeatTimeoutMs = DEFAULT_CONFIG.heartbeatTimeoutMs;
  // Peak: the raw subscriber and the control plane flooded in turns, best round of each, so a
  // neighbour's burst on this shared machine cannot favour one side.
  const peakRounds = params.quick ? 1 : 3;
  const peakMs = params.quick ? 2_000 : 5_000;
  const rawPacedMs = Math.min(params.seconds, 10) * 1_000;
  const fleet = await startHeartbeatFleet(resources, params.workers);
  const { load } = fleet;

  // The baseline: a subscriber that only parses the JSON. Its CPU at the paced rate is measured
  // first, while nothing else takes heartbeats; its floods go to look-alike subjects.
  const raw = await RawSubscriber.start(resources, fleet.natsUrl);
  progress(`raw subscriber: paced for ${rawPacedMs / 1_000} s`);
  const rawPacedCpuPercent = await raw.pacedCpuPercent(load, { intervalMs, durationMs: rawPacedMs });

  progress('control plane: paced load');
  const eventsStored = new Map<string, number>();
  const { controlPlane, logCounts, disconnects, warmup, stopLoad } = await startFleetScenario(resources, {
    workers: params.workers,
    timing: { intervalMs, heartbeatTimeoutMs },
    fleet,
    measureMs: params.seconds * 1_000 + 10_000,
    progress,
    observers: {
      onStored: (event) => eventsStored.set(event.type, (eventsStored.get(event.type) ?? 0) + 1),
    },
  });
  const received = () => heartbeatsReceived(controlPlane);
  progress(`measuring ${params.seconds} s of sustained load`);

  const loopDelay = monitorEventLoopDelay({ resolution: 10 });
  loopDelay.enable();
  const window = cpuWindow();
  const receivedAtStart = received();
  const sentAtStart = load.sent;
  const inactiveAtStart = eventsStored.get('WorkerInactive') ?? 0;
  await sleep(params.seconds * 1_000);
  const windowMs = window.elapsedMs();
  const sustainedRate = ((received() - receivedAtStart) / windowMs) * 1_000;
  // What the simulator managed to send meanwhile: on a busy machine it may fall short of N / interval.
  const offeredRate = ((load.sent - sentAtStart) / windowMs) * 1_000;
  const sustainedCpu = window.percentOfOneCore();
  loopDelay.disable();
  const { sent: pacedSent, skipped: pacedSkipped } = await stopLoad();
  // Whatever was published has reached the server; give the subscriber a moment to take the rest.
  await pollUntil(() => received() >= pacedSent, 5_000);
  const receivedAfterPaced = received();
  const falseInactive = (eventsStored.get('WorkerInactive') ?? 0) - inactiveAtStart;
  const storedBeforeFloods = new Map(eventsStored);

  const rawRates: number[] = [];
  const fleetRates: number[] = [];
  for (let round = 1; round <= peakRounds; round++) {
    progress(
      `peak round ${round}/${peakRounds}: raw subscriber, then control plane, ${peakMs / 1_000} s each`,
    );
    rawRates.push(await floodRate(load, peakMs, () => raw.received, 'raw'));
    fleetRates.push(await floodRate(load, peakMs, received, 'heartbeats'));
  }
  const rawPeak = Math.max(...rawRates);
  const fleetPeak = Math.max(...fleetRates);

  const atScale = atTargetScale(params);
  const scheduledRate = params.workers / (intervalMs / 1_000);
  return {
    benchmark: 'ingest',
    params: { ...params, intervalMs, heartbeatTimeoutMs, peakSeconds: peakMs / 1_000, peakRounds },
    figures: [
      {
        key: 'sustainedRate',
        label: 'sustained heartbeats/s processed',
        value: round(sustainedRate),
        unit: 'msg/s',
        baseline: { label: 'sent by the simulated workers meanwhile', value: round(offeredRate) },
        ratio: ratio(sustainedRate, offeredRate),
        target: {
          text: `${TARGETS.sustainedRate}/s for ${TARGETS.sustainedSeconds} s`,
          met: judge(
            atScale && params.seconds >= TARGETS.sustainedSeconds,
            // Within 2%: the two counts are read up to a progress report apart.
            sustainedRate >= TARGETS.sustainedRate * 0.98,
          ),
        },
      },
      ...deliveryFigures(
        {
          sent: pacedSent,
          received: receivedAfterPaced,
          slowConsumerEvents: resources.slowConsumerLogLines + disconnects.count,
        },
        atScale,
      ),
      mustBeZero(
        { key: 'falseInactive', label: 'false WorkerInactive', value: falseInactive, unit: 'events' },
        atScale,
      ),
      {
        key: 'sustainedCpuPercent',
        label: 'control-plane CPU at the sustained rate',
        value: round(sustainedCpu),
        unit: '% of a core',
        baseline: { label: 'raw subscriber at that rate', value: round(rawPacedCpuPercent) },
        ratio: ratio(sustainedCpu, rawPacedCpuPercent),
        target: {
          text: `≤ ${TARGETS.sustainedCpuPercent}%`,
          met: judge(atScale, sustainedCpu <= TARGETS.sustainedCpuPercent),
        },
      },
      {
        key: 'registrationMs',
        label: `${params.workers} workers registered, stored and applied`,
        value: warmup.storedMs,
        unit: 'ms',
        baseline: { label: 'one heartbeat interval', value: intervalMs },
        ratio: ratio(warmup.storedMs, intervalMs),
        target: {
          text: `≤ ${TARGETS.registrationMs / 1_000} s`,
          met: judge(atScale, warmup.storedMs <= TARGETS.registrationMs),
        },
      },
      {
        key: 'registrationCpuMs',
        label: 'control-plane CPU meanwhile',
        value: warmup.cpuMs,
        unit: 'ms',
        baseline: { label: 'the registration, wall time', value: warmup.storedMs },
        ratio: ratio(warmup.cpuMs, warmup.storedMs),
      },
      {
        key: 'eventLoopDelayP99Ms',
        label: 'event-loop delay p99 (sustained)',
        value: loopDelayDistribution(loopDelay).p99,
        unit: 'ms',
      },
      {
        key: 'peakRate',
        label: 'peak heartbeats/s (control plane)',
        value: round(fleetPeak),
        unit: 'msg/s',
        baseline: { label: 'raw subscriber, JSON.parse only', value: round(rawPeak) },
        ratio: ratio(fleetPeak, rawPeak),
        target: {
          text: `ratio ≥ ${TARGETS.peakRatio}`,
          met: judge(atScale, (ratio(fleetPeak, rawPeak) ?? 0) >= TARGETS.peakRatio),
        },
      },
    ],
    notes: [
      `the workers are scheduled to send ${scheduledRate}/s; the sustained figure is judged on what was processed`,
      'CPU is this process, which hosts the whole control plane (intake, fleet, publisher, projector); ' +
        'the load runs in a child process, nats-server in another',
      `peak: best of ${peakRounds} alternating ${peakMs / 1_000} s floods each (raw ${rawRates.map((rate) => round(rate, 0)).join(', ')}; ` +
        `control plane ${fleetRates.map((rate) => round(rate, 0)).join(', ')} msg/s), the first quarter of each left out ` +
        `(warm-up); floods are credit-based (≤ ${FLOOD_WINDOW} in flight), so they measure the consumer, not the server's buffers`,
      `control plane logged ${logCounts.warnings} warnings, ${logCounts.errors} errors; ` +
        `${[...eventsStored.values()].reduce((sum, count) => sum + count, 0)} events stored (${describeCounts(eventsStored)}), ` +
        `of which during the floods: ${describeCounts(countsSince(storedBeforeFloods, eventsStored)) || 'none'}; ` +
        `the simulator skipped ${pacedSkipped} beats it fell behind on`,
    ],
  };
}

function describeCounts(counts: ReadonlyMap<string, number>): string {
  return [...counts].map(([type, count]) => `${type} ${count}`).join(', ');
}

/** What `now` counts beyond `before`, leaving out what did not grow. */
function countsSince(
  before: ReadonlyMap<string, number>,
  now: ReadonlyMap<string, number>,
): Map<string, number> {
  const grown = new Map<string, number>();
  for (const [type, count] of now) {
    const added = count - (before.get(type) ?? 0);
    if (added > 0) grown.set(type, added);
  }
  return grown;
}

/** How fast the consumer behind `processed` takes a credit-based flood, after its first quarter. */
async function floodRate(
  load: HeartbeatLoad,
  durationMs: number,
  processed: () => number,
  target: LoadTarget,
): Promise<number> {
  const before = processed();
  const flood = load.flood(durationMs, FLOOD_WINDOW, () => processed() - before, target);
  return (await measureRate(processed, flood, { warmupMs: durationMs / 4 })).perSecond;
}

/** The baseline consumer: a nats.js subscriber that parses each heartbeat's JSON and nothing more. */
class RawSubscriber {
  received = 0;
  private parsedBytes = 0;
  private readonly utf8 = new TextDecoder();

  private constructor(private readonly nc: NatsConnection) {}

  static async start(resources: BenchResources, natsUrl: string): Promise<RawSubscriber> {
    const nc = await connect({ servers: natsUrl, name: 'cloudai-bench-raw-subscriber' });
    resources.defer('raw subscriber', () => nc.close());
    const subscriber = new RawSubscriber(nc);
    subscriber.subscribe(`${RAW_SUBJECT_PREFIX}*`);
    await nc.flush();
    return subscriber;
  }

  /** Its CPU while taking the real heartbeat subjects at the paced rate (before the control plane starts). */
  async pacedCpuPercent(
    load: HeartbeatLoad,
    options: { intervalMs: number; durationMs: number },
  ): Promise<number> {
    // As workers publish them, and as a server with the partition mapping delivers them.
    const subscriptions = [HEARTBEAT_WILDCARD, `${HEARTBEAT_WILDCARD}.*`].map((subject) =>
      this.subscribe(subject),
    );
    try {
      const paced = load.paced(options.intervalMs, options.durationMs + 1_000);
      await sleep(1_000);
      const window = cpuWindow();
      await paced;
      if (this.parsedBytes === 0) throw new Error('raw subscriber parsed nothing');
      return window.percentOfOneCore();
    } finally {
      await Promise.all(subscriptions.map((subscription) => subscription.drain()));
    }
  }

  private subscribe(subject: string): Subscription {
    return this.nc.subscribe(subject, {
      callback: (_error, msg) => {
        // Keep the parse observable so it cannot be optimised away.
        const parsed = JSON.parse(this.utf8.decode(msg.data)) as { workerId?: string };
        this.parsedBytes += parsed.workerId?.length ?? 0;
        this.received++;
      },
    });
  }
}
