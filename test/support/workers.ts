import { NO_RESOURCES } from '../../projections/resources.js';
import type { WorkerStats } from '../../projections/uptime.js';
import { evolveWorker, type WorkerDocument } from '../../projections/worker-document.js';
import { ALL_PARTITIONS, partitionOf } from '../../streams/contracts/partitions.js';
import { type HistoryStep, workerHistory } from './worker-history.js';

/** A worker document as the read model holds it; tests give only what they look at. */
export function workerDocument(workerId: string, overrides: Partial<WorkerDocument> = {}): WorkerDocument {
  return {
    workerId,
    status: 'active',
    address: '10.0.0.7:50052',
    capacity: { cpu: 8, memoryGb: 16, storageGb: 100, gpu: 0 },
    usage: { cpu: 0, memory: 0, storage: 0, gpu: 0 },
    lastHeartbeatAt: 1_000,
    statusSince: 1_000,
    registeredAt: 1_000,
    lastEventSeq: 1,
    flapping: false,
    cordoned: false,
    allocated: NO_RESOURCES,
    taskIds: [],
    ...overrides,
  };
}

/** A worker's document after its history, folded event by event as the projection folds them. */
export function foldWorker(workerId: string, steps: readonly HistoryStep[]): WorkerDocument {
  let document: WorkerDocument | undefined;
  for (const event of workerHistory(workerId, steps)) document = evolveWorker(document, event);
  if (!document) throw new Error('no events');
  return document;
}

/** The statistics of `everyStateHistory` read at minute 60, computed by hand. */
export const EVERY_STATE_FIGURES_AT_60: WorkerStats = {
  activeMs: 49 * 60_000, // 0–10, 11–30, 40–60
  suspectMs: 60_000,
  inactiveMs: 10 * 60_000,
  outages: 1,
  recoveries: 1,
  meanTimeToRecoveryMs: 10 * 60_000,
  // Younger than a day: the window covers only its lifetime, and suspect counts as available.
  availabilityLast24h: 50 / 60,
  availabilitySinceRegistration: 50 / 60,
};

/**
 * A worker that has been through every state, `at(minutes)` after it registered: suspect from 10
 * to 11, inactive from 30 to 40, back flapping, cordoned at 41. At minute 60 it has been active
 * 49 minutes, suspect 1 and inactive 10 (one outage, recovered).
 */

export function everyStateHistory(at: (minutes: number) => number): HistoryStep[] {
  return [
    ['registered', at(0)],
    ['suspected', at(10)],
    ['recovered', at(11)],
    ['inactive', at(30)],
    ['activated', at(40)],
    ['flapping', at(40)],
    ['cordoned', at(41)],
  ];
}

/** `perPartition` worker ids in every partition, in partition order. */
export function workersPerPartition(prefix: string, perPartition: number): string[] {
  const byPartition = ALL_PARTITIONS.map(() => [] as string[]);
  for (let n = 0; byPartition.some((ids) => ids.length < perPartition); n++) {
    const workerId = `${prefix}-${n}`;
    const ids = byPartition[partitionOf(workerId)] as string[];
    if (ids.length < perPartition) ids.push(workerId);
  }
  return byPartition.flat();
}
