/**
 * How the fleet judges liveness. The values come from the configuration (`cli/config.ts`,
 * the one place for their defaults); the fleet and its machines only read them.
 */
export interface LivenessSettings {
  /** Silence after which a worker is declared inactive: the hard limit, whatever φ says. */
  heartbeatTimeoutMs: number;
  suspicion: SuspicionSettings;
  flapDamping: FlapDampingSettings;
  disruption: DisruptionSettings;
}

/** φ accrual (Hayashibara et al., 2004) over a window of heartbeat inter-arrival times. */
export interface SuspicionSettings {
  /** φ at which a late worker becomes suspect. */
  phiThreshold: number;
  /** Silence that makes a worker suspect while its window holds fewer than `minSamples`. */
  suspectAfterMs: number;
  /** Inter-arrival times kept per worker (the oldest is dropped). */
  windowSize: number;
  minSamples: number;
  /** Floor of the standard deviation of the normal model. */
  minStdDevMs: number;
}

/** A worker that comes back more than `threshold` times within `windowMs` is flapping. */
export interface FlapDampingSettings {
  threshold: number;
  windowMs: number;
  /** Time a flapping worker must stay up before it is schedulable again. */
  holdDownMs: number;
}

/** The mass-failure guard: when too many workers go silent at once, doubt the fleet's own view. */
export interface DisruptionSettings {
  /** More than this share (in %) of the considered workers unhealthy… */
  thresholdPercent: number;
  /** …and more than this many. */
  minWorkers: number;
}

/** What an operator's request to the fleet came to: done, or why not (a sentence the CLI prints). */
export type OperatorOutcome = { ok: true } | { ok: false; error: string };
