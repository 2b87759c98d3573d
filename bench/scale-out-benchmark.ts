import { cpSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect } from '@nats-io/transport-node';
import { DEFAULT_CONFIG } from '../cli/config.js';
import { WORKER_PARTITIONS } from '../streams/contracts/partitions.js';
import { CLUSTER_SIZE } from '../streams/nats/nats-cluster.js';
import { HeartbeatLoad } from './load/heartbeat-load-client.js';
import { BENCH_WORKER_PREFIX } from './load/load-protocol.js';
import type { Benchmark } from './registry.js';
import { LeaseObserver, watchWorkerEvents } from './support/ha-observer.js';
import { startBenchNatsCluster } from './support/nats-cluster.js';
import { fillActiveReadModel } from './support/read-model-fill.js';
import { type BenchParams, type BenchReport, type Figure, mustBeZero } from './support/report.js';
import type { BenchResources } from './support/resources.js';
import { processCpuSeconds, ServeProcess } from './support/serve-process.js';
import { ratio, round } from './support/stats.js';
import { atTargetScale, TARGETS } from './targets.js';

/** Set to a folder to have the first control plane of the cluster run with `--cpu-prof` into it. */
const CPU_PROFILE_ENV = 'CLOUDAI_BENCH_SERVE_CPU_PROF';
/** The scale the issue asks the arithmetic for. */
const PROJECTED_WORKERS = 1_000_000;
const PROJECTED_CONTROL_PLANES = 10;
/** How long the control planes may take to start and deal the partitions out (restores included). */
const SHARING_TIMEOUT_MS = 120_000;

export const scaleOutBenchmark: Benchmark = {
  name: 'scale-out',
  summary:
    'N workers beating every 5 s across two `cloudai serve` on a three-server NATS cluster: heartbeats lost, ' +
    'false alarms, CPU of each control plane against one `serve` carrying N/2 on one server',
  defaults: { workers: TARGETS.scaleOutWorkers, seconds: 60 },
  quick: { workers: 4_000, seconds: 5 },
  run: runScaleOut,
};

interface PhaseSetup {
  label: string;
  /** One URL per control plane (each connects to its own server). */
  serveUrls: string[];
  /** The server the simulated workers and the observer connect to. */
  loadUrl: string;
  /** Server processes whose CPU is counted. */
  serverPids: number[];
  dataDirs: string[];
  workers: number;
  intervalMs: number;
  warmupMs: number;
  measureMs: number;
  cpuProfileDir?: string;
}

interface ServeResult {
  /** From its first lease taken to serving: its share of the fleet restored from its read model. */
  startRestoreMs: number;
  cpuPercent: number;
  acceptedPerSecond: number;
  rssBytes: number;
  partitions: number;
}

interface PhaseResult {
  serves: ServeResult[];
  sent: number;
  skipped: number;
  accepted: number;
  rejected: number;
  /** Alarms about live workers while the control planes took their partitions and the load warmed up. */
  falseSuspectedAtStart: number;
  falseInactiveAtStart: number;
  /** …and during the measured run. */
  falseSuspected: number;
  falseInactive: number;
  /** Workers the control planes count as suspect or inactive at the end (a gauge, not events). */
  notActiveAtEnd: number;
  serversCpuPercent: number;
  loadCpuPercent: number;
  machineBusyPercent: number;
  leasesLost: number;
}

async function runScaleOut(
  params: BenchParams,
  resources: BenchResources,
  progress: (line: string) => void,
): Promise<BenchReport> {
  const intervalMs = DEFAULT_CONFIG.heartbeatIntervalMs;
  const half = Math.floor(params.workers / 2);
  const common = {
    intervalMs,
    warmupMs: (params.quick ? 1 : 2) * intervalMs,
    measureMs: params.seconds * 1_000,
  };

  // The fleet is in the read models from the start (as after a restart): no registration burst.
  let filledAt = Date.now();
  const baselineDir = resources.tempDir('single');
  await fillActiveReadModel(baselineDir, half);
  const clusterDirs = [resources.tempDir('cp-a'), resources.tempDir('cp-b')];
  await fillActiveReadModel(clusterDirs[0] as string, params.workers);
  cpSync(clusterDirs[0] as string, clusterDirs[1] as string, { recursive: true });
  progress(`read models filled (${half} and 2 × ${params.workers} workers) in ${Date.now() - filledAt} ms`);

  const server = await resources.natsServer();
  const single = await runPhase(resources, progress, {
    ...common,
    label: `one serve, ${half} workers, one server`,
    serveUrls: [server.url],
    loadUrl: server.url,
    serverPids: [server.pid],
    dataDirs: [baselineDir],
    workers: half,
  });
  await server.stop();

  filledAt = Date.now();
  const cluster = await startBenchNatsCluster(resources);
  progress(`${CLUSTER_SIZE}-server cluster ready in ${Date.now() - filledAt} ms`);
  const scaled = await runPhase(resources, progress, {
    ...common,
    label: `two serves, ${params.workers} workers, ${CLUSTER_SIZE}-server cluster`,
    serveUrls: [cluster.urls[0] as string, cluster.urls[1] as string],
    loadUrl: cluster.urls[2] as string,
    serverPids: cluster.members.map((member) => member.pid),
    dataDirs: clusterDirs,
    workers: params.workers,
    cpuProfileDir: process.env[CPU_PROFILE_ENV] || undefined,
  });

  const atScale = atTargetScale(params, TARGETS.scaleOutWorkers);
  const baselineServe = single.serves[0] as ServeResult;
  const singleCpu = { label: `one serve, ${half} workers`, value: round(baselineServe.cpuPercent) };
  const figures: Figure[] = [
    mustBeZero(
      {
        key: 'lostHeartbeats',
        label: 'heartbeats sent but not accepted (cluster)',
        value: Math.max(0, scaled.sent - scaled.accepted),
        unit: 'msgs',
        baseline: { label: 'sent', value: scaled.sent },
      },
      atScale,
    ),
    mustBeZero(
      {
        key: 'falseInactive',
        label: 'WorkerInactive of live workers, measured run (cluster)',
        value: scaled.falseInactive,
        unit: '',
      },
      atScale,
    ),
    mustBeZero(
      {
        key: 'falseSuspected',
        label: 'WorkerSuspected of live workers, measured run (cluster)',
        value: scaled.falseSuspected,
        unit: '',
      },
      atScale,
    ),
    mustBeZero(
      {
        key: 'falseAlarmsAtStart',
        label: 'WorkerSuspected/Inactive of live workers as the partitions were taken (cluster)',
        value: scaled.falseSuspectedAtStart + scaled.falseInactiveAtStart,
        unit: '',
        baseline: {
          label: 'single serve',
          value: single.falseSuspectedAtStart + single.falseInactiveAtStart,
        },
      },
      atScale,
    ),
    ...scaled.serves.map(
      (serve, index): Figure => ({
        key: `serveCpu${index + 1}`,
        label: `CPU of control plane ${index + 1} (${serve.partitions} partitions, ${round(serve.acceptedPerSecond)}/s)`,
        value: round(serve.cpuPercent),
        unit: '% of a core',
        baseline: singleCpu,
        ratio: ratio(serve.cpuPercent, baselineServe.cpuPercent),
      }),
    ),
    {
      key: 'serversCpu',
      label: `CPU of the ${CLUSTER_SIZE} nats-servers together`,
      value: round(scaled.serversCpuPercent),
      unit: '% of a core',
      baseline: { label: 'the single nats-server', value: round(single.serversCpuPercent) },
      ratio: ratio(scaled.serversCpuPercent, single.serversCpuPercent),
    },
    {
      key: 'machineBusy',
      label: 'machine busy (all processes, both cores)',
      value: round(scaled.machineBusyPercent),
      unit: '%',
      baseline: { label: 'during the single-serve phase', value: round(single.machineBusyPercent) },
      ratio: ratio(scaled.machineBusyPercent, single.machineBusyPercent),
    },
    {
      key: 'restoreAtStart',
      label: 'start: first lease taken → serving, slowest control plane',
      value: Math.round(Math.max(...scaled.serves.map((serve) => serve.startRestoreMs))),
      unit: 'ms',
      baseline: {
        label: `the single serve, ${half} workers`,
        value: Math.round(baselineServe.startRestoreMs),
      },
      ratio: ratio(
        Math.max(...scaled.serves.map((serve) => serve.startRestoreMs)),
        baselineServe.startRestoreMs,
      ),
    },
    {
      key: 'lostHeartbeatsSingle',
      label: 'heartbeats sent but not accepted (single serve)',
      value: Math.max(0, single.sent - single.accepted),
      unit: 'msgs',
      baseline: { label: 'sent', value: single.sent },
    },
    {
      key: 'serveRss',
      label: 'RSS of a control plane in the cluster (largest)',
      value: round(Math.max(...scaled.serves.map((serve) => serve.rssBytes)) / 1_048_576),
      unit: 'MiB',
      baseline: { label: 'the single serve', value: round(baselineServe.rssBytes / 1_048_576) },
      ratio: ratio(Math.max(...scaled.serves.map((serve) => serve.rssBytes)), baselineServe.rssBytes),
    },
  ];
  return {
    benchmark: 'scale-out',
    params: {
      ...params,
      intervalMs,
      leaseTtlMs: DEFAULT_CONFIG.leaseTtlMs,
      controlPlanes: 2,
      natsServers: CLUSTER_SIZE,
    },
    figures,
    notes: [
      ...[single, scaled].map(
        (phase, index) =>
          `${index === 0 ? 'single' : 'cluster'}: sent ${phase.sent}, accepted ${phase.accepted}, rejected ${phase.rejected}, ` +
          `slots skipped by the simulator ${phase.skipped} (its CPU ${round(phase.loadCpuPercent)}% of a core), ` +
          `suspect or inactive at the end ${phase.notActiveAtEnd}, leases lost unplanned ${phase.leasesLost}, ` +
          `false suspected/inactive at start ${phase.falseSuspectedAtStart}/${phase.falseInactiveAtStart}, ` +
          `in the measured run ${phase.falseSuspected}/${phase.falseInactive}`,
      ),
      `slow-consumer lines logged by the nats-servers: ${resources.slowConsumerLogLines}`,
      ...projection(scaled, intervalMs),
    ],
  };
}

/** The issue's arithmetic: 1 000 000 workers on 10 control planes, from the CPU measured per heartbeat here. */
function projection(scaled: PhaseResult, intervalMs: number): string[] {
  const rate = scaled.serves.reduce((sum, serve) => sum + serve.acceptedPerSecond, 0);
  const servesCpu = scaled.serves.reduce((sum, serve) => sum + serve.cpuPercent, 0);
  if (rate <= 0) return [];
  const servePercentPerThousand = servesCpu / (rate / 1_000);
  const serversPercentPerThousand = scaled.serversCpuPercent / (rate / 1_000);
  const projectedRate = (PROJECTED_WORKERS / intervalMs) * 1_000;
  const perControlPlane = projectedRate / PROJECTED_CONTROL_PLANES;
  const count = (value: number) => Math.round(value).toLocaleString('en-US');
  return [
    `measured: ${round(servePercentPerThousand, 2)}% of a core per 1 000 heartbeats/s in a control plane, ` +
      `${round(serversPercentPerThousand, 2)}% in the nats-servers together`,
    `${count(PROJECTED_WORKERS)} workers every ${intervalMs / 1_000} s = ${count(projectedRate)} heartbeats/s; on ` +
      `${PROJECTED_CONTROL_PLANES} control planes ${count(perControlPlane)}/s each → ` +
      `${round((servePercentPerThousand * perControlPlane) / 1_000)}% of a core each, ` +
      `${round((servePercentPerThousand * projectedRate) / 100_000, 1)} cores in all; the NATS cluster ` +
      `${round((serversPercentPerThousand * projectedRate) / 100_000, 1)} cores (linear from this run: an upper ` +
      'bound, since fixed costs weigh more at a low rate; see bench/README.md)',
  ];
}

async function runPhase(
  resources: BenchResources,
  progress: (line: string) => void,
  setup: PhaseSetup,
): Promise<PhaseResult> {
  progress(`${setup.label}: starting`);
  const settings = {
    heartbeatIntervalMs: setup.intervalMs,
    maxWorkers: Math.max(DEFAULT_CONFIG.maxWorkers, setup.workers),
  };
  // The workers beat before any control plane listens: each restores its share of the fleet
  // from its read model when it takes the partitions, and must hear them from then on.
  const load = await HeartbeatLoad.start(resources, {
    natsUrl: setup.loadUrl,
    workerPrefix: BENCH_WORKER_PREFIX,
    workers: setup.workers,
  });
  const unlimitedMs = 60 * 60_000;
  const warmup = load.paced(setup.intervalMs, unlimitedMs);
  const serves = await Promise.all(
    setup.dataDirs.map((dataDir, index) =>
      ServeProcess.start(resources, {
        natsUrl: setup.serveUrls[index] as string,
        dataDir,
        label: `${index + 1}`,
        settings,
        cpuProfileDir: index === 0 ? setup.cpuProfileDir : undefined,
      }),
    ),
  );
  const nc = await connect({ servers: setup.loadUrl, name: 'cloudai-bench-scale-out' });
  try {
    const alarms = new Map<string, 'WorkerSuspected' | 'WorkerInactive'>();
    const countAlarms = (type: string) => [...alarms.values()].filter((alarm) => alarm === type).length;
    watchWorkerEvents(nc, (event) => {
      if (event.type === 'WorkerSuspected' || event.type === 'WorkerInactive')
        alarms.set(`${event.workerId}#${event.seq}`, event.type);
    });
    const leases = await LeaseObserver.start(nc, 30_000);
    const share = WORKER_PARTITIONS / serves.length;
    await leases.until(
      () =>
        leases.partitions.size === WORKER_PARTITIONS &&
        [...leases.counts().values()].every((n) => n === share),
      SHARING_TIMEOUT_MS,
      `${serves.length} control planes sharing the partitions`,
    );
    await sleep(setup.warmupMs);
    // The measured heartbeats are those of a second paced run: the count starts with nothing in flight.
    await load.halt();
    await warmup;
    const before = await settledTotals(serves, Number.POSITIVE_INFINITY);
    const alarmsAtStart = {
      suspected: countAlarms('WorkerSuspected'),
      inactive: countAlarms('WorkerInactive'),
    };
    const paced = load.paced(setup.intervalMs, unlimitedMs);

    // Scraping takes a while on a busy machine: each count is dated at the middle of its scrape.
    const accepted = async () => {
      const asked = performance.now();
      const counts = await Promise.all(serves.map((serve) => acceptedBy(serve)));
      return { counts, at: (asked + performance.now()) / 2 };
    };
    const acceptedAtStart = await accepted();
    const cpuAtStart = serves.map((serve) => serve.cpuSeconds());
    const serversAtStart = sumCpu(setup.serverPids);
    const machineAtStart = machineCpu();
    const startedAt = performance.now();
    await sleep(setup.measureMs);
    const elapsedS = (performance.now() - startedAt) / 1_000;
    const cpuAtEnd = serves.map((serve) => serve.cpuSeconds());
    const serversAtEnd = sumCpu(setup.serverPids);
    const machineAtEnd = machineCpu();
    const acceptedAtEnd = await accepted();
    const rss = serves.map((serve) => rssBytes(serve.pid));

    const finished = await load.halt();
    await paced;
    const after = await settledTotals(serves, before.accepted + before.rejected + finished.sent);
    const totals = { accepted: after.accepted - before.accepted, rejected: after.rejected - before.rejected };
    let notActiveAtEnd = 0;
    for (const serve of serves) {
      notActiveAtEnd +=
        (await serve.metric('cloudai_workers', 'state="suspect"')) +
        (await serve.metric('cloudai_workers', 'state="inactive"'));
    }
    const machineBusyPercent =
      ((machineAtEnd.busy - machineAtStart.busy) / (machineAtEnd.total - machineAtStart.total)) * 100;
    const result: PhaseResult = {
      serves: serves.map((serve, index) => ({
        startRestoreMs: (serve.servingAt ?? Number.NaN) - (serve.firstLeaseAt ?? Number.NaN),
        cpuPercent: (((cpuAtEnd[index] as number) - (cpuAtStart[index] as number)) / elapsedS) * 100,
        acceptedPerSecond:
          (((acceptedAtEnd.counts[index] as number) - (acceptedAtStart.counts[index] as number)) /
            (acceptedAtEnd.at - acceptedAtStart.at)) *
          1_000,
        rssBytes: rss[index] as number,
        partitions: countHeldBy(leases, setup.dataDirs[index] as string),
      })),
      sent: finished.sent,
      skipped: finished.skipped,
      accepted: totals.accepted,
      rejected: totals.rejected,
      falseSuspectedAtStart: alarmsAtStart.suspected,
      falseInactiveAtStart: alarmsAtStart.inactive,
      falseSuspected: countAlarms('WorkerSuspected') - alarmsAtStart.suspected,
      falseInactive: countAlarms('WorkerInactive') - alarmsAtStart.inactive,
      notActiveAtEnd,
      serversCpuPercent: ((serversAtEnd - serversAtStart) / elapsedS) * 100,
      loadCpuPercent: (finished.cpuMs / (setup.warmupMs + setup.measureMs)) * 100,
      machineBusyPercent,
      leasesLost: serves.reduce((sum, serve) => sum + serve.logCounts.leasesLost, 0),
    };
    progress(
      `${setup.label}: control planes at ${result.serves.map((serve) => `${round(serve.cpuPercent)}%`).join(', ')} of a core; ` +
        `sent ${result.sent}, accepted ${result.accepted}; machine ${round(machineBusyPercent)}% busy`,
    );
    await load.close();
    await Promise.all(serves.map((serve) => serve.stop()));
    return result;
  } finally {
    await nc.close();
  }
}

async function acceptedBy(serve: ServeProcess): Promise<number> {
  return (
    (await serve.metric('cloudai_heartbeats_received_total')) -
    (await serve.metric('cloudai_heartbeats_rejected_total'))
  );
}

/** The control planes' totals once what was sent is all taken (`expected`), or they stopped taking any. */
async function settledTotals(
  serves: ServeProcess[],
  expected: number,
): Promise<{ accepted: number; rejected: number }> {
  let totals = await totalsOf(serves);
  for (let unchangedFor = 0; unchangedFor < 3 && totals.accepted + totals.rejected < expected; ) {
    await sleep(250);
    const next = await totalsOf(serves);
    unchangedFor = next.accepted + next.rejected === totals.accepted + totals.rejected ? unchangedFor + 1 : 0;
    totals = next;
  }
  return totals;
}

async function totalsOf(serves: ServeProcess[]): Promise<{ accepted: number; rejected: number }> {
  let accepted = 0;
  let rejected = 0;
  for (const serve of serves) {
    const received = await serve.metric('cloudai_heartbeats_received_total');
    const refused = await serve.metric('cloudai_heartbeats_rejected_total');
    accepted += received - refused;
    rejected += refused;
  }
  return { accepted, rejected };
}

function countHeldBy(leases: LeaseObserver, dataDir: string): number {
  const id = readFileSync(`${dataDir}/control-plane-id`, 'utf8').trim();
  return leases.heldBy(id).length;
}

function sumCpu(pids: number[]): number {
  return pids.reduce((sum, pid) => sum + processCpuSeconds(pid), 0);
}

function rssBytes(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) * 1_024 : Number.NaN;
}

/** Jiffies the whole machine spent busy and in all, from the first line of /proc/stat. */
function machineCpu(): { busy: number; total: number } {
  const fields = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '')
    .trim()
    .split(/\s+/)
    .slice(1)
    .map(Number);
  const total = fields.reduce((sum, value) => sum + value, 0);
  const idle = (fields[3] ?? 0) + (fields[4] ?? 0);
  return { busy: total - idle, total };
}
