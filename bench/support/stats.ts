import { setTimeout as sleep } from 'node:timers/promises';

/** Order statistics of a set of durations (or any samples), as the benchmarks report them. */
export interface Distribution {
  count: number;
  p50: number;
  p99: number;
  max: number;
}

/** Nearest-rank percentile; `sortedAscending` must be sorted. */
export function percentile(sortedAscending: readonly number[], fraction: number): number {
  if (sortedAscending.length === 0) return Number.NaN;
  const rank = Math.ceil(fraction * sortedAscending.length) - 1;
  return sortedAscending[Math.min(sortedAscending.length - 1, Math.max(0, rank))] as number;
}

export function distribution(samples: readonly number[]): Distribution {
  const sorted = [...samples].sort((a, b) => a - b);
  return {
    count: sorted.length,
    p50: percentile(sorted, 0.5),
    p99: percentile(sorted, 0.99),
    max: sorted.at(-1) ?? Number.NaN,
  };
}

/** `value / baseline`, rounded for reading; undefined when the baseline is not a positive number. */
export function ratio(value: number, baseline: number): number | undefined {
  if (!Number.isFinite(value) || !Number.isFinite(baseline) || baseline <= 0) return undefined;
  return round(value / baseline, 3);
}

export function round(value: number, digits = 1): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

/**
 * Polls `check` every `everyMs` until it is true or `timeoutMs` passes; returns whether it became true.
 * Benchmarks report a timeout as a figure rather than failing on it.
 */
export async function pollUntil(check: () => boolean, timeoutMs: number, everyMs = 20): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (check()) return true;
    await sleep(everyMs);
  }
  return check();
}
