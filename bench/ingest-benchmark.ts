import { monitorEventLoopDelay } from 'node:perf_hooks';
import { connect } from '@nats-io/transport-node';
import { DEFAULT_CONFIG } from '../cli/config.js';
import { HEARTBEAT_WILDCARD } from '../streams/subjects.js';
import { HeartbeatLoad } from './load/heartbeat-load-client.js';
import { BENCH_WORKER_PREFIX } from './load/load-protocol.js';
import type { Benchmark } from './registry.js';
import { countDisconnects, heartbeatsReceived, startBenchControlPlane } from './support/control-plane.js';
import { cpuWindow, measureRate } from './support/rate.js';
import type { BenchParams } from './support/report.js';
import type { BenchResources } from './support/resources.js';
import { pollUntil, ratio, round, sleep } from './support/stats.js';
import { waitForFleetSteady } from './support/warm-up.js';
import { judge, TARGET_WORKERS, TARGETS } from './targets.js';

// The flood keeps at most this many heartbeats in flight beyond what the consumer has taken,
// so a slow consumer slows the publisher instead of making the server drop messages.
const FLOOD_WINDOW = 20_000;
const NANOS_PER_MS = 1e6;
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
  const peakMs = params.quick ? 2_000 : 10_000;
  const rawPacedMs = Math.min(params.seconds, 10) * 1_000;
  const server = await resources.natsServer();
  const load = await HeartbeatLoad.start(resources, {
    natsUrl: server.url,
    workerPrefix: BENCH_WORKER_PREFIX,
    workers: params.workers,
  });

  // Baselines first, while nothing else is subscribed: a subscriber that only parses the JSON.
  progress(`raw subscriber: flood for ${peakMs / 1_000} s, then paced for ${rawPacedMs / 1_000} s`);
  const raw = await rawSubscriberBaseline(server.url, load, { peakMs, rawPacedMs, intervalMs });

  progress(`control plane: paced load, ${params.workers} workers every ${intervalMs} ms`);
  const eventsStored = { WorkerInactive: 0, total: 0 };
  const { controlPlane, logCounts } = await startBenchControlPlane(resources, {
    natsUrl: server.url,
    dataDir: resources.tempDir('data'),
    heartbeatTimeoutMs,
    heartbeatIntervalMs: intervalMs,
    onEventStored: (event) => {
      eventsStored.total++;
      if (event.type === 'WorkerInactive') eventsStored.WorkerInactive++;
    },
  });
  const disconnects = countDisconnects(controlPlane.nc.status());
  const received = () => heartbeatsReceived(controlPlane);
  const warmupBudgetMs = intervalMs + 120_000;
  const paced = load.paced(intervalMs, warmupBudgetMs + params.seconds * 1_000 + 10_000);
  const warmup = await waitForFleetSteady(controlPlane, params.workers, {
    timeoutMs: warmupBudgetMs,
    progress,
  });
  progress(
    `all ${params.workers} registered in ${warmup.registeredMs} ms, stored and applied in ${warmup.storedMs} ms; ` +
      `measuring ${params.seconds} s of sustained load`,
  );

  const loopDelay = monitorEventLoopDelay({ resolution: 10 });
  loopDelay.enable();
  const window = cpuWindow();
  const receivedAtStart = received();
  const inactiveAtStart = eventsStored.WorkerInactive;
  await sleep(params.seconds * 1_000);
  const sustainedRate = ((received() - receivedAtStart) / window.elapsedMs()) * 1_000;
  const sustainedCpu = window.percentOfOneCore();
  loopDelay.disable();
  const { sent: pacedSent } = await load.halt();
  await paced;
  // Whatever was published has reached the server; give the subscriber a moment to take the rest.
  await pollUntil(() => received() >= pacedSent, 5_000);
  const dropped = Math.max(0, pacedSent - received());
  const falseInactive = eventsStored.WorkerInactive - inactiveAtStart;

  progress(`control plane: flood for ${peakMs / 1_000} s`);
  const receivedBeforeFlood = received();
  const flood = load.flood(peakMs, FLOOD_WINDOW, () => received() - receivedBeforeFlood);
  const peak = await measureRate(received, flood, { warmupMs: peakMs / 4 });

  const atScale = !params.quick && params.workers >= TARGET_WORKERS;
  const offeredRate = params.workers / (intervalMs / 1_000);
  return {
    benchmark: 'ingest',
    params: { ...params, intervalMs, heartbeatTimeoutMs, peakSeconds: peakMs / 1_000 },
    figures: [
      {
        key: 'sustainedRate',
        label: 'sustained heartbeats/s processed',
        value: round(sustainedRate),
        unit: 'msg/s',
        baseline: { label: 'offered by the workers', value: offeredRate },
        ratio: ratio(sustainedRate, offeredRate),
        target: {
          text: `${TARGETS.sustainedRate}/s for ${TARGETS.sustainedSeconds} s`,
          met: judge(
            atScale && params.seconds >= TARGETS.sustainedSeconds,
            sustainedRate >= TARGETS.sustainedRate * 0.98,
          ),
        },
      },
      {
        key: 'dropped',
        label: 'dropped heartbeats (sent − received)',
        value: dropped,
        unit: 'msgs',
        baseline: { label: 'sent', value: pacedSent },
        target: { text: '0', met: judge(atScale, dropped === 0) },
      },
      {
        key: 'slowConsumerEvents',
        label: 'slow-consumer reports + disconnects',
        value: resources.slowConsumerLogLines + disconnects.count,
        unit: '',
        target: { text: '0', met: judge(atScale, resources.slowConsumerLogLines + disconnects.count === 0) },
      },
      {
        key: 'falseInactive',
        label: 'false WorkerInactive',
        value: falseInactive,
        unit: 'events',
        target: { text: '0', met: judge(atScale, falseInactive === 0) },
      },
      {
        key: 'sustainedCpuPercent',
        label: 'control-plane CPU at the sustained rate',
        value: round(sustainedCpu),
        unit: '% of a core',
        baseline: { label: 'raw subscriber at that rate', value: round(raw.pacedCpuPercent) },
        ratio: ratio(sustainedCpu, raw.pacedCpuPercent),
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
      },
      {
        key: 'eventLoopDelayP99Ms',
        label: 'event-loop delay p99 (sustained)',
        value: round(loopDelay.percentile(99) / NANOS_PER_MS, 2),
        unit: 'ms',
      },
      {
        key: 'peakRate',
        label: 'peak heartbeats/s (control plane)',
        value: round(peak.perSecond),
        unit: 'msg/s',
        baseline: { label: 'raw subscriber, JSON.parse only', value: round(raw.peak.perSecond) },
        ratio: ratio(peak.perSecond, raw.peak.perSecond),
        target: {
          text: `ratio ≥ ${TARGETS.peakRatio}`,
          met: judge(atScale, (ratio(peak.perSecond, raw.peak.perSecond) ?? 0) >= TARGETS.peakRatio),
        },
      },
    ],
    notes: [
      'CPU is this process, which hosts the whole control plane (intake, fleet, publisher, projector); ' +
        'the load runs in a child process, nats-server in another',
      `peak rates leave out the first quarter of each ${peakMs / 1_000} s flood (warm-up); the flood is ` +
        `credit-based (≤ ${FLOOD_WINDOW} in flight), so it measures the consumer, not the server's buffers`,
      `control plane logged ${logCounts.warnings} warnings, ${logCounts.errors} errors; ` +
        `${eventsStored.total} events stored`,
    ],
  };
}

async function rawSubscriberBaseline(
  natsUrl: string,
  load: HeartbeatLoad,
  options: { peakMs: number; rawPacedMs: number; intervalMs: number },
) {
  const nc = await connect({ servers: natsUrl, name: 'cloudai-bench-raw-subscriber' });
  try {
    const utf8 = new TextDecoder();
    let received = 0;
    let parsedBytes = 0;
    nc.subscribe(HEARTBEAT_WILDCARD, {
      callback: (_error, msg) => {
        // Keep the parse observable so it cannot be optimised away.
        const parsed = JSON.parse(utf8.decode(msg.data)) as { workerId?: string };
        parsedBytes += parsed.workerId?.length ?? 0;
        received++;
      },
    });
    await nc.flush();
    const flood = load.flood(options.peakMs, FLOOD_WINDOW, () => received);
    const peak = await measureRate(() => received, flood, { warmupMs: options.peakMs / 4 });
    const paced = load.paced(options.intervalMs, options.rawPacedMs + 1_000);
    await sleep(1_000);
    const window = cpuWindow();
    await paced;
    const pacedCpuPercent = window.percentOfOneCore();
    if (parsedBytes === 0) throw new Error('raw subscriber parsed nothing');
    return { peak, pacedCpuPercent };
  } finally {
    await nc.close();
  }
}
