import type { WorkerStatus } from '../streams/contracts/worker-events.js';

/** Availability is reported over this window (and since registration). */
export const AVAILABILITY_WINDOW_MS = 24 * 60 * 60_000;

/**
 * Most ended outages a record keeps for the availability window, so a flapping worker's record
 * stays small. Beyond it the two oldest are merged into one with their total downtime, ending
 * where the later one ended: availability stays close (downtime can only seem later than it was).
 */
export const MAX_RECENT_DOWNTIMES = 100;

/** A stretch a worker spent inactive that has ended (it came back, or was removed). */
export interface Downtime {
  from: number;
  to: number;
}

/**
 * A worker's uptime as folded from its events, read with its document (the read model stores it
 * apart). Only stretches that ended are summed here: the current one (from the document's
 * `statusSince`) is added when read, by `workerStats`, so a steady worker's record never changes.
 */
export interface UptimeRecord {
  /** When tracking began: the registration, or, for a document written before uptime was tracked, its `statusSince` then. */
  since: number;
  /** Time spent in each status, over the stretches that ended. Removed and left time count nowhere. */
  activeMs: number;
  suspectMs: number;
  inactiveMs: number;
  /** Times the worker was declared inactive. */
  outages: number;
  /** Outages that ended with the worker back (inactive → active; not a removal), and their total length. */
  recoveries: number;
  recoveredDowntimeMs: number;
  /** Start of the outage under way; null while the worker is not inactive. */
  downSince: number | null;
  /** Ended outages still inside the availability window at the last status change, oldest first. */
  recentDowntimes: Downtime[];
}

/** A status and when the worker entered it, as a document holds them. */
export interface StatusStretch {
  status: WorkerStatus;
  since: number;
}

/** The part of a worker document the statistics read. */
export interface UptimeSource {
  status: WorkerStatus;
  statusSince: number;
  /** Absent in documents written before uptime was tracked. */
  uptime?: UptimeRecord | undefined;
}

/** A fresh record, for a worker that registers (or re-registers after removal) in `stretch`. */
export function startUptime(stretch: StatusStretch): UptimeRecord {
  const inactive = stretch.status === 'inactive';
  return {
    since: stretch.since,
    activeMs: 0,
    suspectMs: 0,
    inactiveMs: 0,
    outages: inactive ? 1 : 0,
    recoveries: 0,
    recoveredDowntimeMs: 0,
    downSince: inactive ? stretch.since : null,
    recentDowntimes: [],
  };
}

/**
 * Whether a record says nothing beyond its document's status and `statusSince` (a worker still
 * in the stretch it registered in): `uptimeOf` rebuilds it from the document alone.
 */
export function isFreshUptime(record: UptimeRecord, stretch: StatusStretch): boolean {
  const fresh = startUptime(stretch);
  return (
    record.since === fresh.since &&
    record.activeMs === 0 &&
    record.suspectMs === 0 &&
    record.inactiveMs === 0 &&
    record.outages === fresh.outages &&
    record.recoveries === 0 &&
    record.recoveredDowntimeMs === 0 &&
    record.downSince === fresh.downSince &&
    record.recentDowntimes.length === 0
  );
}

/**
 * The record of a document: a document written before uptime was tracked reads as one that
 * began tracking when it entered its current status (what happened before is unknown).
 */
export function uptimeOf(document: UptimeSource): UptimeRecord {
  return document.uptime ?? startUptime({ status: document.status, since: document.statusSince });
}

/**
 * Folds a change of status stretch into the record: the stretch `before` ended at `after.since`.
 * Pure. `measuredMs` is the ended stretch's length as the monitor measured it on its monotonic
 * clock; without it (events written before it was measured) the length is the difference of the
 * two wall-clock times, which a step of the host's clock skews (clamped at zero). A stretch that
 * restarts in the same status (its `since` moved) only adds the time that ended; it is neither a
 * new outage nor a recovery.
 */
export function evolveUptime(
  record: UptimeRecord,
  before: StatusStretch,
  after: StatusStretch,
  measuredMs?: number,
): UptimeRecord {
  const ended = measuredMs ?? Math.max(0, after.since - before.since);
  const next: UptimeRecord = { ...record };
  if (before.status === 'active') next.activeMs += ended;
  else if (before.status === 'suspect') next.suspectMs += ended;
  else if (before.status === 'inactive') next.inactiveMs += ended;
  const wasDown = before.status === 'inactive';
  const isDown = after.status === 'inactive';
  if (!wasDown && isDown) {
    next.outages++;
    next.downSince = after.since;
  } else if (wasDown && !isDown) {
    // The outage's length is the inactive stretches' (earlier ones of the outage on the wall
    // clock, the one ending now as measured), placed to end when it ended.
    const earlier = Math.max(0, before.since - (record.downSince ?? before.since));
    const downtime: Downtime = { from: after.since - (earlier + ended), to: after.since };
    if (after.status === 'active' || after.status === 'suspect') {
      next.recoveries++;
      next.recoveredDowntimeMs += downtime.to - downtime.from;
    }
    next.downSince = null;
    next.recentDowntimes = [...record.recentDowntimes, downtime];
  }
  if (next.recentDowntimes.length > 0) {
    next.recentDowntimes = bounded(pruned(next.recentDowntimes, after.since - AVAILABILITY_WINDOW_MS));
  }
  return next;
}

/** Without the downtimes that ended before `cutoff`: no window read after this event can reach them. */
function pruned(downtimes: Downtime[], cutoff: number): Downtime[] {
  const firstKept = downtimes.findIndex((downtime) => downtime.to > cutoff);
  if (firstKept === 0) return downtimes;
  return firstKept < 0 ? [] : downtimes.slice(firstKept);
}

function bounded(downtimes: Downtime[]): Downtime[] {
  if (downtimes.length <= MAX_RECENT_DOWNTIMES) return downtimes;
  const kept = downtimes.slice(downtimes.length - MAX_RECENT_DOWNTIMES + 1);
  // The oldest ones merged into the first kept slot, their total downtime ending where the last of them ended.
  const merged = downtimes.slice(0, downtimes.length - MAX_RECENT_DOWNTIMES + 1);
  const total = merged.reduce((sum, downtime) => sum + (downtime.to - downtime.from), 0);
  const to = merged.at(-1)?.to ?? 0;
  return [{ from: to - total, to }, ...kept];
}

/** What `cloudai workers stats` shows, computed at `now` from the record and the current stretch. */
export interface WorkerStats {
  /** Time in each status since tracking began, the current stretch included (removed time counts nowhere). */
  activeMs: number;
  suspectMs: number;
  inactiveMs: number;
  /** Times declared inactive, and how many of those outages ended with the worker back. */
  outages: number;
  recoveries: number;
  /** Mean length of the outages that ended with the worker back; null before the first recovery. */
  meanTimeToRecoveryMs: number | null;
  /**
   * Share of the time not inactive (suspect counts as available: late, not down), 0..1, over
   * the last 24 h (only the part since tracking began, for a younger worker) and since
   * tracking began. Null when no time was observed (registered this very moment, or removed
   * for longer than the window).
   */
  availabilityLast24h: number | null;
  availabilitySinceRegistration: number | null;
}

/** The worker's statistics at `now`. Pure; the time since a removal or a leave counts nowhere. */
export function workerStats(document: UptimeSource, now: number): WorkerStats {
  const record = uptimeOf(document);
  const current = countsNowhere(document.status) ? 0 : Math.max(0, now - document.statusSince);
  const activeMs = record.activeMs + (document.status === 'active' ? current : 0);
  const suspectMs = record.suspectMs + (document.status === 'suspect' ? current : 0);
  const inactiveMs = record.inactiveMs + (document.status === 'inactive' ? current : 0);
  const observed = activeMs + suspectMs + inactiveMs;
  return {
    activeMs,
    suspectMs,
    inactiveMs,
    outages: record.outages,
    recoveries: record.recoveries,
    meanTimeToRecoveryMs: record.recoveries > 0 ? record.recoveredDowntimeMs / record.recoveries : null,
    availabilityLast24h: availabilityInWindow(document, record, now),
    availabilitySinceRegistration: observed > 0 ? (activeMs + suspectMs) / observed : null,
  };
}

function availabilityInWindow(document: UptimeSource, record: UptimeRecord, now: number): number | null {
  const start = Math.max(now - AVAILABILITY_WINDOW_MS, record.since);
  const end = countsNowhere(document.status) ? Math.min(now, document.statusSince) : now;
  if (end <= start) return null;
  let down = 0;
  for (const downtime of record.recentDowntimes) down += overlap(downtime.from, downtime.to, start, end);
  if (document.status === 'inactive')
    down += overlap(record.downSince ?? document.statusSince, now, start, end);
  // Up time over observed time, as for the lifetime figure: for a worker younger than the window
  // both are the same ratio of whole milliseconds, so they print alike.
  const observed = end - start;
  return Math.min(1, Math.max(0, (observed - down) / observed));
}

/**
 * Time after a removal or a clean leave is nobody's: the worker is not expected to run, so it is
 * neither up nor down.
 */
function countsNowhere(status: WorkerStatus): boolean {
  return status === 'removed' || status === 'left';
}

function overlap(from: number, to: number, start: number, end: number): number {
  return Math.max(0, Math.min(to, end) - Math.max(from, start));
}
