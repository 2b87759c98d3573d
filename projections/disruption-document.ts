import type { DisruptionEvent } from '../streams/contracts/worker-events.js';

/** Whether the fleet is in disruption mode, as the read model shows it (`cloudai workers`, the scheduler). */
export interface DisruptionDocument {
  active: boolean;
  /** When the current mode (or the last one, if none is active) started; null if there never was one. */
  since: number | null;
  /** When the last one ended; null while active or if there never was one. */
  endedAt: number | null;
  endedBy: 'heartbeats' | 'operator' | null;
  /** Workers unhealthy / considered when the current or last mode started. */
  unhealthyWorkers: number;
  consideredWorkers: number;
  /** `seq` of the last disruption event applied; the fleet numbers the next one from it. */
  lastEventSeq: number;
}

export const NO_DISRUPTION: DisruptionDocument = {
  active: false,
  since: null,
  endedAt: null,
  endedBy: null,
  unhealthyWorkers: 0,
  consideredWorkers: 0,
  lastEventSeq: 0,
};

/** Folds one disruption event; pure, and an event already reflected (seq not newer) changes nothing. */
export function evolveDisruption(document: DisruptionDocument, event: DisruptionEvent): DisruptionDocument {
  if (event.seq <= document.lastEventSeq) return document;
  switch (event.type) {
    case 'DisruptionStarted':
      return {
        active: true,
        since: event.at,
        endedAt: null,
        endedBy: null,
        unhealthyWorkers: event.unhealthyWorkers,
        consideredWorkers: event.consideredWorkers,
        lastEventSeq: event.seq,
      };
    case 'DisruptionEnded':
      return {
        ...document,
        active: false,
        endedAt: event.at,
        endedBy: event.endedBy,
        lastEventSeq: event.seq,
      };
  }
}
