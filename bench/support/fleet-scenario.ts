import { setTimeout as sleep } from 'node:timers/promises';
import { DEFAULT_CONFIG } from '../../cli/config.js';
import type { ControlPlane } from '../../control-plane/control-plane.js';
import type { TaskEvent } from '../../streams/contracts/task-events.js';
import type { WorkerStreamEvent } from '../../streams/contracts/worker-events.js';
import { HeartbeatLoad } from '../load/heartbeat-load-client.js';
import { BENCH_WORKER_PREFIX } from '../load/load-protocol.js';
import { countDisconnects, type LogCounts, startBenchControlPlane } from './control-plane.js';
import type { BenchResources } from './resources.js';
import { waitForFleetSteady } from './warm-up.js';

export interface ScenarioTiming {
  intervalMs: number;
  heartbeatTimeoutMs: number;
}

/** Heartbeat interval and timeout of a --quick run: short, so a detection fits in a few seconds. */
const QUICK_TIMING: ScenarioTiming = { intervalMs: 500, heartbeatTimeoutMs: 2_000 };

/** The configured defaults (the 5 s interval, 30 s timeout), or the short ones of --quick. */
export function scenarioTiming(quick: boolean): ScenarioTiming {
  if (quick) return QUICK_TIMING;
  return {
    intervalMs: DEFAULT_CONFIG.heartbeatIntervalMs,
    heartbeatTimeoutMs: DEFAULT_CONFIG.heartbeatTimeoutMs,
  };
}

/** Observers of the control plane's events, by stage. */
export interface ScenarioObservers {
  /** The fleet emitted it (before publishing). */
  onTransition?: (event: WorkerStreamEvent) => void;
  /** JetStream acknowledged it. */
  onStored?: (event: WorkerStreamEvent, streamSeq: number) => void;
  /** The read model has applied it (the transaction holding it is committed). */
  onApplied?: (event: WorkerStreamEvent) => void;
  /** The scheduler's event (submitted, assigned…) was acknowledged by JetStream. */
  onTaskEventStored?: (event: TaskEvent, streamSeq: number) => void;
}

/** A nats-server of the benchmark's own, and N simulated workers ready to beat on it (not beating yet). */
export interface HeartbeatFleet {
  natsUrl: string;
  load: HeartbeatLoad;
}

export async function startHeartbeatFleet(
  resources: BenchResources,
  workers: number,
): Promise<HeartbeatFleet> {
  const server = await resources.natsServer();
  const load = await HeartbeatLoad.start(resources, {
    natsUrl: server.url,
    workerPrefix: BENCH_WORKER_PREFIX,
    workers,
  });
  return { natsUrl: server.url, load };
}

export interface FleetScenario extends HeartbeatFleet {
  controlPlane: ControlPlane;
  /** How long the registration burst took: every worker registered, and its event stored and applied. */
  warmup: { registeredMs: number; storedMs: number; cpuMs: number };
  /** Warnings and errors the control plane logged. */
  logCounts: LogCounts;
  /** Disconnects and slow-consumer notices of the control plane's connection, since it started. */
  disconnects: { count: number };
  /** Ends the heartbeat load; resolves with how many heartbeats it sent, and how many it fell behind on and skipped. */
  stopLoad(): Promise<{ sent: number; skipped: number }>;
}

/**
 * The setting of the load and detection benchmarks: a nats-server, the control plane in this
 * process, and N simulated workers in a child process beating every `intervalMs`, all
 * registered, stored and applied before this resolves, and every worker having beaten once
 * more since. `fleet` is one started beforehand (to measure a baseline on it first).
 */
export async function startFleetScenario(
  resources: BenchResources,
  options: {
    workers: number;
    timing: ScenarioTiming;
    observers: ScenarioObservers;
    progress: (line: string) => void;
    fleet?: HeartbeatFleet;
    /** How long the load must go on once warmed up (default: long enough for any detection here). */
    measureMs?: number;
  },
): Promise<FleetScenario> {
  const { workers, timing, observers, progress } = options;
  const { natsUrl, load } = options.fleet ?? (await startHeartbeatFleet(resources, workers));
  const { controlPlane, logCounts } = await startBenchControlPlane(resources, {
    natsUrl,
    dataDir: resources.tempDir('data'),
    heartbeatTimeoutMs: timing.heartbeatTimeoutMs,
    heartbeatIntervalMs: timing.intervalMs,
    onTransition: observers.onTransition,
    onTaskEventStored: observers.onTaskEventStored,
    onEventStored: (event, streamSeq) => {
      observers.onStored?.(event, streamSeq);
      const { onApplied } = observers;
      if (onApplied) void controlPlane.projector.waitForPosition(streamSeq).then(() => onApplied(event));
    },
  });
  const disconnects = countDisconnects(controlPlane.nc.status());
  progress(
    `${workers} workers beating every ${timing.intervalMs} ms; heartbeat timeout ${timing.heartbeatTimeoutMs} ms`,
  );
  const warmupBudgetMs = timing.intervalMs + 120_000;
  // Each benchmark ends the load with stopLoad() once it has its figures.
  const measureMs = options.measureMs ?? timing.heartbeatTimeoutMs * 4 + 60_000;
  const paced = load.paced(timing.intervalMs, warmupBudgetMs + timing.intervalMs + measureMs);
  const warmup = await waitForFleetSteady(controlPlane, workers, { timeoutMs: warmupBudgetMs, progress });
  progress(
    `all ${workers} registered in ${warmup.registeredMs} ms, stored and applied in ${warmup.storedMs} ms`,
  );
  // One more interval, so every worker has beaten since the registration burst settled.
  await sleep(timing.intervalMs);
  return {
    load,
    controlPlane,
    natsUrl,
    warmup,
    logCounts,
    disconnects,
    stopLoad: async () => {
      const { sent, skipped } = await load.halt();
      await paced;
      return { sent, skipped };
    },
  };
}
