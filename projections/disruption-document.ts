import type { DisruptionEvent, PartitionTaken } from '../streams/contracts/worker-events.js';

/** One control plane's disruption mode: each runs it over the workers it judges. */
export interface DisruptionPart {
  active: boolean;
  /** `seq` of its last event applied; it numbers its next one from it. */
  lastEventSeq: number;
}

/** Whether the fleet is in disruption mode, as the read model shows it (`cloudai workers`, the scheduler). */
export interface DisruptionDocument {
  /** Whether any control plane is in disruption mode. */
  active: boolean;
  /** When the current mode (or the last one, if none is active) started; null if there never was one. */
  since: number | null;
  /** When the last one ended; null while active or if there never was one. */
  endedAt: number | null;
  /** `takeover`: its last control plane in the mode lost its last partition to another. */
  endedBy: 'heartbeats' | 'operator' | 'takeover' | null;
  /** Workers unhealthy / considered when the current or last mode started. */
  unhealthyWorkers: number;
  consideredWorkers: number;
  /** `seq` of the last disruption event applied (of any control plane). */
  lastEventSeq: number;
  /** Each control plane's own mode, by id ('' for events written before control planes had ids). */
  byControlPlane?: Record<string, DisruptionPart>;
  /** Which control plane holds each partition, as the PartitionTaken markers say. */
  partitionHolders?: Record<number, string>;
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

/** A control plane's own mode, as it continues it after a restart. */
export function disruptionPartOf(document: DisruptionDocument, controlPlaneId: string): DisruptionPart {
  const parts = partsOf(document);
  return parts[controlPlaneId] ?? parts[''] ?? { active: false, lastEventSeq: 0 };
}

function partsOf(document: DisruptionDocument): Record<string, DisruptionPart> {
  if (document.byControlPlane) return document.byControlPlane;
  // A document folded before control planes had ids: all of it is the anonymous writer's.
  return document.lastEventSeq > 0
    ? { '': { active: document.active, lastEventSeq: document.lastEventSeq } }
    : {};
}

/**
 * Folds one disruption event; pure. Events are numbered per control plane, and one already
 * reflected (seq not newer than its writer's last) changes nothing. The fleet is in disruption
 * mode while any control plane is.
 */
export function evolveDisruption(document: DisruptionDocument, event: DisruptionEvent): DisruptionDocument {
  const writer = event.controlPlane ?? '';
  const { '': unnamed, ...named } = partsOf(document);
  // The first control plane with an id continues the mode (and numbering) of the unnamed writer
  // before it, as it restored it (see disruptionPartOf).
  const inherits = writer !== '' && unnamed !== undefined && named[writer] === undefined;
  const parts = inherits || unnamed === undefined ? named : { ...named, '': unnamed };
  const part = (inherits ? unnamed : parts[writer]) ?? { active: false, lastEventSeq: 0 };
  if (event.seq <= part.lastEventSeq) return document;
  const parted = {
    ...parts,
    [writer]: { active: event.type === 'DisruptionStarted', lastEventSeq: event.seq },
  };
  // A lone unnamed writer (events from before control planes had ids) keeps the document flat.
  const byControlPlane = writer === '' && !document.byControlPlane ? undefined : parted;
  const lastEventSeq = Math.max(document.lastEventSeq, event.seq);
  switch (event.type) {
    case 'DisruptionStarted':
      if (document.active) return withParts({ ...document, lastEventSeq }, byControlPlane);
      return withParts(
        {
          ...document,
          active: true,
          since: event.at,
          endedAt: null,
          endedBy: null,
          unhealthyWorkers: event.unhealthyWorkers,
          consideredWorkers: event.consideredWorkers,
          lastEventSeq,
        },
        byControlPlane,
      );
    case 'DisruptionEnded': {
      const stillActive = Object.values(parted).some((other) => other.active);
      if (stillActive) return withParts({ ...document, lastEventSeq }, byControlPlane);
      return withParts(
        { ...document, active: false, endedAt: event.at, endedBy: event.endedBy, lastEventSeq },
        byControlPlane,
      );
    }
  }
}

function withParts(
  document: DisruptionDocument,
  byControlPlane: Record<string, DisruptionPart> | undefined,
): DisruptionDocument {
  if (byControlPlane) return { ...document, byControlPlane };
  const { byControlPlane: _flat, ...flat } = document;
  return flat;
}

/**
 * Folds a PartitionTaken marker; pure. A control plane whose last partition another took (it
 * died, froze or was cut off) judges no worker any more, so its mode ends there: otherwise one
 * that died in disruption mode would hold every requeue back until an operator ended it.
 */
export function evolveDisruptionOnTakeover(
  document: DisruptionDocument,
  marker: PartitionTaken,
): DisruptionDocument {
  const holders = { ...document.partitionHolders, [marker.partition]: marker.controlPlane };
  const previous = document.partitionHolders?.[marker.partition];
  const parts = partsOf(document);
  const left = previous === undefined ? undefined : parts[previous];
  const leftForGood =
    previous !== undefined &&
    previous !== marker.controlPlane &&
    left?.active === true &&
    !Object.values(holders).includes(previous);
  if (!leftForGood) return { ...document, partitionHolders: holders };
  const byControlPlane = { ...parts, [previous]: { ...left, active: false } };
  const stillActive = Object.values(byControlPlane).some((part) => part.active);
  return {
    ...document,
    ...(stillActive ? {} : { active: false, endedAt: marker.at, endedBy: 'takeover' as const }),
    byControlPlane,
    partitionHolders: holders,
  };
}
