import type { StreamMessage } from '../../projections/stream-batch.js';
import {
  encodeWorkerEvent,
  type WorkerEvent,
  type WorkerStreamEvent,
} from '../../streams/contracts/worker-events.js';

const capacity = { cpu: 8, memoryGb: 16, storageGb: 100, gpu: 0 };

type EventBase = { workerId: string; at: number; seq: number };

/** The worker events tests write by hand, by a short name; fields other than time are plausible fillers. */
const eventOf = {
  registered: (base: EventBase): WorkerEvent => ({
    type: 'WorkerRegistered',
    ...base,
    address: '10.0.0.7:50052',
    capacity,
  }),
  suspected: (base: EventBase): WorkerEvent => ({
    type: 'WorkerSuspected',
    ...base,
    lastHeartbeatAt: base.at - 10_000,
    silentForMs: 10_000,
    suspectAfterMs: 10_000,
    phi: null,
  }),
  recovered: (base: EventBase): WorkerEvent => ({
    type: 'WorkerRecovered',
    ...base,
    lastHeartbeatAt: base.at,
  }),
  activated: (base: EventBase): WorkerEvent => ({
    type: 'WorkerActivated',
    ...base,
    lastHeartbeatAt: base.at,
  }),
  inactive: (base: EventBase): WorkerEvent => ({
    type: 'WorkerInactive',
    ...base,
    lastHeartbeatAt: base.at - 30_000,
    silentForMs: 30_000,
  }),
  flapping: (base: EventBase): WorkerEvent => ({
    type: 'WorkerFlapping',
    ...base,
    comebacks: 4,
    windowMs: 600_000,
    holdDownMs: 300_000,
  }),
  stabilized: (base: EventBase): WorkerEvent => ({ type: 'WorkerStabilized', ...base, stableForMs: 300_000 }),
  cordoned: (base: EventBase): WorkerEvent => ({ type: 'WorkerCordoned', ...base }),
  uncordoned: (base: EventBase): WorkerEvent => ({ type: 'WorkerUncordoned', ...base }),
  removed: (base: EventBase): WorkerEvent => ({ type: 'WorkerRemoved', ...base }),
};

/** One event of a worker's history: its kind and time. */
export type HistoryStep = [keyof typeof eventOf, number];

/** A worker's events, numbered 1, 2, 3, … as the fleet numbers them. */
export function workerHistory(workerId: string, steps: readonly HistoryStep[]): WorkerEvent[] {
  return steps.map(([kind, at], index) => eventOf[kind]({ workerId, at, seq: index + 1 }));
}

/** Events as stream messages, numbered from `firstSeq` in the given order. */
export function streamMessagesOf(events: readonly WorkerStreamEvent[], firstSeq = 1): StreamMessage[] {
  return events.map((event, index) => ({ seq: firstSeq + index, data: encodeWorkerEvent(event) }));
}
