import type { LivenessSettings } from '../actors/liveness-settings.js';
import type { PolicyName } from '../scheduler/policies/policy.js';

/**
 * What `serve` is configured with. The CLI resolves it from flags, environment and defaults
 * (its `Config` is a superset); tests and benchmarks build it the same way.
 */
export interface ControlPlaneSettings {
  natsUrl: string;
  dataDir: string;
  heartbeatTimeoutMs: number;
  maxHeartbeatBytes: number;
  policy: PolicyName;
  /** JSON file with RTS parameters; empty: the original's defaults. */
  rtsParams: string;
  assignTimeoutMs: number;
  assignRetryAfterMs: number;
  queueBypassLimit: number;
  /** The CLI waits this long for an answer; the control plane answers within half of it. */
  requestTimeoutMs: number;
  maxWorkers: number;
  phiThreshold: number;
  suspectAfterMs: number;
  phiWindowSize: number;
  phiMinSamples: number;
  phiMinStdDevMs: number;
  flapThreshold: number;
  flapWindowMs: number;
  flapHoldDownMs: number;
  disruptionThresholdPercent: number;
  disruptionMinWorkers: number;
  /** 0: no /metrics and /healthz. */
  metricsPort: number;
  metricsHost: string;
  /** Empty: no webhook. */
  alertWebhook: string;
  /** Place tasks that run a command on workers whose runtime is `process` (`sh -c` on their host). */
  allowHostTasks: boolean;
  /** Bound of stream TASK_LOGS in total; the oldest output goes first. */
  taskLogsMaxBytes: number;
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
