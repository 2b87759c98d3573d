import { DEFAULT_CONFIG } from '../../cli/config.js';
import type { ControlPlane } from '../../cli/control-plane.js';
import type { WorkerStreamEvent } from '../../streams/worker-events.js';
import { HeartbeatLoad } from '../load/heartbeat-load-client.js';
import { BENCH_WORKER_PREFIX } from '../load/load-protocol.js';
import { startBenchControlPlane } from './control-plane.js';
import type { BenchResources } from './resources.js';
import { sleep } from './stats.js';
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
}

export interface FleetScenario {
  load: HeartbeatLoad;
  controlPlane: ControlPlane;
  natsUrl: string;
  /** Ends the heartbeat load; resolves with how many heartbeats it sent. */
  stopLoad(): Promise<number>;
}

/**
 * The setting of the detection benchmarks: a nats-server, the control plane in this process,
 * and N simulated workers in a child process beating every `intervalMs`, all registered,
 * stored and applied before this resolves, and every worker having beaten once more since.
 */
export async function startFleetScenario(
  resources: BenchResources,
  options: {
    workers: number;
    timing: ScenarioTiming;
    observers: ScenarioObservers;
    progress: (line: string) => void;
  },
): Promise<FleetScenario> {
  const { workers, timing, observers, progress } = options;
  const server = await resources.natsServer();
  const load = await HeartbeatLoad.start(resources, {
    natsUrl: server.url,
    workerPrefix: BENCH_WORKER_PREFIX,
    workers,
  });
  const { controlPlane } = await startBenchControlPlane(resources, {
    natsUrl: server.url,
    dataDir: resources.tempDir('data'),
    heartbeatTimeoutMs: timing.heartbeatTimeoutMs,
    heartbeatIntervalMs: timing.intervalMs,
    onTransition: observers.onTransition,
    onEventStored: (event, streamSeq) => {
      observers.onStored?.(event, streamSeq);
      const { onApplied } = observers;
      if (onApplied) void controlPlane.projector.waitForPosition(streamSeq).then(() => onApplied(event));
    },
  });
  progress(
    `${workers} workers beating every ${timing.intervalMs} ms; heartbeat timeout ${timing.heartbeatTimeoutMs} ms`,
  );
  const warmupBudgetMs = timing.intervalMs + 120_000;
  // Long enough for any benchmark here; each ends it with stopLoad() once it has its figures.
  const paced = load.paced(timing.intervalMs, warmupBudgetMs + timing.heartbeatTimeoutMs * 4 + 60_000);
  await waitForFleetSteady(controlPlane, workers, { timeoutMs: warmupBudgetMs, progress });
  // One more interval, so every worker has beaten since the registration burst settled.
  await sleep(timing.intervalMs);
  return {
    load,
    controlPlane,
    natsUrl: server.url,
    stopLoad: async () => {
      const { sent } = await load.halt();
      await paced;
      return sent;
    },
  };
}
