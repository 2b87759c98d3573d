import type { LivenessSettings } from '../actors/liveness-settings.js';
import type { PolicyName } from '../scheduler/policies/policy.js';

/**
 * What `serve` is configured with. The CLI resolves it from flags, environment and defaults
 * (its `Config` is a superset); tests and benchmarks build it the same way.
 */
export interface ControlPlaneSettings {
  natsUrl: string;
  dataDir: string;
  /** Silence after which a worker is declared inactive. */
  heartbeatTimeoutMs: number;
  maxHeartbeatBytes: number;
  /** The placement policy of `cloudai serve`. */
  policy: PolicyName;
  /** JSON file with RTS parameters; empty: the original's defaults. */
  rtsParams: string;
  /** How long a worker's agent has to acknowledge an assignment before the task goes elsewhere. */
  assignTimeoutMs: number;
  /** How long a worker that did not acknowledge a task is not offered it again (unless it comes back). */
  assignRetryAfterMs: number;
  /** How many younger tasks may be placed ahead of a waiting task before it reserves a worker. */
  queueBypassLimit: number;
  /** How long `cloudai task submit|cancel` wait for the scheduler; it answers within half of it. */
  requestTimeoutMs: number;
  /** Most workers one monitor tracks; heartbeats from further new ids are refused and counted. */
  maxWorkers: number;
  /** φ at which a late worker becomes suspect (φ = 8: the chance it is merely late is 10⁻⁸). */
  phiThreshold: number;
  /** Silence after which a worker becomes suspect while its φ window has too few samples (default: 2 × interval). */
  suspectAfterMs: number;
  /** Heartbeat inter-arrival times kept per worker for φ. */
  phiWindowSize: number;
  /** Inter-arrival samples needed before φ, rather than `suspectAfterMs`, decides. */
  phiMinSamples: number;
  /** Floor of the standard deviation φ assumes, so a clockwork worker is not suspected at the first jitter. */
  phiMinStdDevMs: number;
  /** A worker that comes back from inactive more than this many times within `flapWindowMs` is flapping. */
  flapThreshold: number;
  flapWindowMs: number;
  /** How long a flapping worker must stay up before it gets tasks again. */
  flapHoldDownMs: number;
  /** Disruption mode when more than this share of workers (in %) is suspect or went inactive within one timeout… */
  disruptionThresholdPercent: number;
  /** …and more than this many workers. */
  disruptionMinWorkers: number;
  /** Port of `cloudai serve`'s Prometheus metrics and /healthz; 0: none. */
  metricsPort: number;
  /** Interface the metrics port listens on; 0.0.0.0: all of them, so Prometheus can scrape from elsewhere. */
  metricsHost: string;
  /** URL that liveness alerts are POSTed to as JSON; empty: none. */
  alertWebhook: string;
  /** Place tasks that run a command on workers whose runtime is `process` (`sh -c` on their host). */
  allowHostTasks: boolean;
  /** Bound of stream TASK_LOGS in total; the oldest output goes first. */
  taskLogsMaxBytes: number;
  /** Port of the web dashboard and its JSON API; 0: none. */
  httpPort: number;
  /** Interface the dashboard listens on: this machine only unless told otherwise. */
  httpHost: string;
  /** Allows the dashboard's actions to whoever sends it as a bearer token; empty: read-only. */
  httpToken: string;
  /**
   * Control planes sharing a cluster hold their partitions and the scheduler by leases of this
   * TTL: a dead one's work is taken over after it. The same on every control plane.
   */
  leaseTtlMs: number;
}

/** The fleet's view of the settings. */
export function livenessSettingsOf(settings: ControlPlaneSettings): LivenessSettings {
  return {
    heartbeatTimeoutMs: settings.heartbeatTimeoutMs,
    suspicion: {
      phiThreshold: settings.phiThreshold,
      suspectAfterMs: settings.suspectAfterMs,
      windowSize: settings.phiWindowSize,
      minSamples: settings.phiMinSamples,
      minStdDevMs: settings.phiMinStdDevMs,
    },
    flapDamping: {
      threshold: settings.flapThreshold,
      windowMs: settings.flapWindowMs,
      holdDownMs: settings.flapHoldDownMs,
    },
    disruption: {
      thresholdPercent: settings.disruptionThresholdPercent,
      minWorkers: settings.disruptionMinWorkers,
    },
  };
}
