import { formatDuration } from '../streams/util/duration.js';
import type { WorkerStats } from './uptime.js';

/**
 * The uptime lines of a worker's figures, as `cloudai workers stats ID` and the dashboard's worker
 * page show them: time in each status (with its share), outages, time to recovery, availability.
 */
export function uptimeFigures(stats: WorkerStats): Array<[string, string]> {
  const observed = stats.activeMs + stats.suspectMs + stats.inactiveMs;
  const timeIn = (ms: number) =>
    observed > 0 ? `${formatDuration(ms)} (${((100 * ms) / observed).toFixed(1)}%)` : formatDuration(ms);
  return [
    ['time active', timeIn(stats.activeMs)],
    ['time suspect', timeIn(stats.suspectMs)],
    ['time inactive', timeIn(stats.inactiveMs)],
    ['outages', `${stats.outages} (${stats.recoveries} recovered)`],
    [
      'mean time to recovery',
      stats.meanTimeToRecoveryMs === null
        ? '- (no recovery yet)'
        : formatDuration(stats.meanTimeToRecoveryMs),
    ],
    ['availability, last 24 h', availability(stats.availabilityLast24h)],
    ['availability, since registration', availability(stats.availabilitySinceRegistration)],
  ];
}

function availability(share: number | null): string {
  // Rounded down, so that 99.999% never shows as 100% (the epsilon keeps float error from taking 0.01% off).
  return share === null ? '- (no time observed)' : `${(Math.floor(share * 10_000 + 1e-6) / 100).toFixed(2)}%`;
}
