import { setTimeout as sleep } from 'node:timers/promises';

export interface CpuWindow {
  /** CPU time of this process over wall time, in % of one core. */
  percentOfOneCore(): number;
  elapsedMs(): number;
}

/** Starts measuring this process's CPU time from now. */
export function cpuWindow(): CpuWindow {
  const startedAt = performance.now();
  const cpuAtStart = process.cpuUsage();
  return {
    elapsedMs: () => performance.now() - startedAt,
    percentOfOneCore() {
      const cpu = process.cpuUsage(cpuAtStart);
      return ((cpu.user + cpu.system) / 1_000 / (performance.now() - startedAt)) * 100;
    },
  };
}

export interface RateMeasurement {
  /** Items per second over the measured part (the first `warmupFraction` of the time is left out). */
  perSecond: number;
  /** CPU of this process over the same part, % of one core. */
  cpuPercent: number;
}

/**
 * Samples `count` while `phase` runs and returns the steady rate: the start is left out
 * because JIT warm-up and connection set-up are not what we measure.
 */
export async function measureRate(
  count: () => number,
  phase: Promise<unknown>,
  options: { warmupMs: number; sampleEveryMs?: number },
): Promise<RateMeasurement> {
  let done = false;
  let failure: { error: unknown } | undefined;
  // Handled at once: a flood that fails while this loop sleeps must not be an unhandled rejection.
  const settled = phase.then(
    () => {
      done = true;
    },
    (error: unknown) => {
      failure = { error };
      done = true;
    },
  );
  const startedAt = performance.now();
  while (!done && performance.now() - startedAt < options.warmupMs) await sleep(options.sampleEveryMs ?? 50);
  const countAtStart = count();
  const cpu = cpuWindow();
  let last = { count: countAtStart, elapsedMs: 0, cpuPercent: 0 };
  while (!done) {
    await sleep(options.sampleEveryMs ?? 50);
    // Only samples taken while the phase still ran count: the tail after it ends is idle time.
    if (!done) last = { count: count(), elapsedMs: cpu.elapsedMs(), cpuPercent: cpu.percentOfOneCore() };
  }
  await settled;
  if (failure) throw failure.error;
  const perSecond = last.elapsedMs > 0 ? ((last.count - countAtStart) / last.elapsedMs) * 1_000 : Number.NaN;
  return { perSecond, cpuPercent: last.cpuPercent };
}
