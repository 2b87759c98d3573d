import type { WorkerStatus, WorkerStreamEvent } from '../../streams/contracts/worker-events.js';

/** A stretch of a worker's history in one status; `to` null: it goes on. */
export interface StatusStretchView {
  status: WorkerStatus;
  from: number;
  to: number | null;
}

/** The status each event moves a worker into; events that change no status are absent. */
const STATUS_AFTER: Partial<Record<WorkerStreamEvent['type'], WorkerStatus>> = {
  WorkerRegistered: 'active',
  WorkerActivated: 'active',
  WorkerRecovered: 'active',
  WorkerSuspected: 'suspect',
  WorkerInactive: 'inactive',
  WorkerLeft: 'left',
  WorkerRemoved: 'removed',
};

/**
 * The worker page's timeline: the stretches its events mark, oldest first, the last one open.
 * Consecutive events into the same status make one stretch. Pure: events in, stretches out.
 */
export function statusTimeline(events: readonly WorkerStreamEvent[]): StatusStretchView[] {
  const stretches: StatusStretchView[] = [];
  for (const event of events) {
    const status = STATUS_AFTER[event.type];
    if (!status) continue;
    const open = stretches[stretches.length - 1];
    if (open?.status === status) continue;
    if (open) open.to = event.at;
    stretches.push({ status, from: event.at, to: null });
  }
  return stretches;
}
