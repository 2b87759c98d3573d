/**
 * The targets of the benchmarks issue, in one place. They hold at `TARGET_WORKERS` workers with
 * the default 5 s heartbeat interval; a run at another scale (e.g. --quick) reports them as
 * not applicable instead of judging them. Benchmarks report; only tests assert.
 */
export const TARGET_WORKERS = 100_000;

/** Targets are judged only in a full run at (or above) the scale they are set for. */
export function atTargetScale(
  params: { quick: boolean; workers: number },
  targetWorkers = TARGET_WORKERS,
): boolean {
  return !params.quick && params.workers >= targetWorkers;
}

export const TARGETS = {
  sustainedRate: 20_000,
  sustainedSeconds: 60,
  /** Of one core. */
  sustainedCpuPercent: 50,
  peakRatio: 0.4,
  heapBytesPerWorker: 4_096,
  detectionToAckP99Ms: 100,
  detectionToReadModelP99Ms: 1_000,
  /** Beyond the heartbeat timeout, after 10% of the workers stop at once. */
  massFailureSlackMs: 2_000,
  cliJsonMs: 1_000,
  /** Every worker of a fleet starting at once registered, its event stored and applied. */
  registrationMs: 10_000,
  placementP99Ms: 1,
  placementsPerSecond: 5_000,
  scheduleSteadyRate: 100,
  scheduleToAssignedP99Ms: 20,
  /** Beyond lease TTL + heartbeat timeout: a worker that died with its control plane is inactive within it. */
  failoverSlackMs: 1_000,
  /** Workers the scale-out benchmark spreads over two control planes on a three-server cluster. */
  scaleOutWorkers: 200_000,
} as const;

/** `met` for a figure, or undefined when this run is not at the target's scale. */
export function judge(atTargetScale: boolean, met: boolean): boolean | undefined {
  return atTargetScale ? met : undefined;
}
