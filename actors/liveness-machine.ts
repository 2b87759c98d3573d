import { assign, emit, setup } from 'xstate';
import type { Capacity } from '../streams/heartbeat.js';
import type { WorkerEvent, WorkerStatus } from '../streams/worker-events.js';

/**
 * One worker's liveness: `active` while heartbeats keep arriving, `inactive` once
 * `heartbeatTimeout` passes without one. Every transition emits exactly one WorkerEvent
 * (numbered by `seq`); the fleet forwards them to JetStream. Time comes only from the
 * events (the monitor's receive time) and from the actor's clock, so the machine is pure
 * and tests drive it with a SimulatedClock.
 *
 * The countdown runs to a deadline, `armedAt + heartbeatTimeoutMs`: a heartbeat re-enters
 * `active`, and the delay is the time left until that deadline, not a full timeout from now.
 * For a heartbeat handled as it arrives the two are the same; the fleet, though, hands a quiet
 * heartbeat (no new address or capacity) to the actor only when its timer would otherwise
 * decide (see Fleet), possibly long after it arrived, and the countdown must still run from
 * its arrival. So a worker that keeps beating costs no transition, not one per heartbeat.
 */

/** A worker as recorded before the monitor (re)started: its last status and event number. */
export interface KnownWorker {
  workerId: string;
  status: WorkerStatus;
  seq: number;
  lastHeartbeatAt: number;
  address: string;
  capacity: Capacity;
}

export type WorkerLivenessInput =
  | {
      workerId: string;
      heartbeatTimeoutMs: number;
      /** The heartbeat that revealed a never-seen worker. */
      firstHeartbeat: { receivedAt: number; address: string; capacity: Capacity };
    }
  | {
      workerId: string;
      heartbeatTimeoutMs: number;
      /** A worker known from the event log; an active one gets a full timeout from `restoredAt`. */
      known: KnownWorker;
      restoredAt: number;
    };

export interface WorkerLivenessContext {
  workerId: string;
  heartbeatTimeoutMs: number;
  /** `seq` of the last event emitted for this worker. */
  seq: number;
  lastHeartbeatAt: number;
  /** When the running countdown started; the worker turns inactive at `armedAt + heartbeatTimeoutMs`. */
  armedAt: number;
  address: string;
  capacity: Capacity;
  /** Set when the actor was rebuilt from the log rather than created by a first heartbeat. */
  restoredStatus: WorkerStatus | undefined;
}

export type HeartbeatEvent = { type: 'HEARTBEAT'; receivedAt: number; address: string; capacity: Capacity };
export type WorkerLivenessEvent = HeartbeatEvent;

function sameCapacity(a: Capacity, b: Capacity): boolean {
  return a.cpu === b.cpu && a.memoryGb === b.memoryGb && a.storageGb === b.storageGb && a.gpu === b.gpu;
}

/** Whether a heartbeat brings news besides its time: a new address or capacity. */
export function heartbeatChangesWorker(
  context: Pick<WorkerLivenessContext, 'address' | 'capacity'>,
  heartbeat: Pick<HeartbeatEvent, 'address' | 'capacity'>,
): boolean {
  return heartbeat.address !== context.address || !sameCapacity(heartbeat.capacity, context.capacity);
}

function deadlineOf(context: WorkerLivenessContext): number {
  return context.armedAt + context.heartbeatTimeoutMs;
}

/**
 * The liveness machine with its delay measured on `now`, the clock its actors' timers run on
 * (the fleet passes its clock's; the default is the wall clock).
 */
export function livenessMachineOnClock(now: () => number) {
  return workerLivenessMachine.provide({
    delays: {
      heartbeatTimeout: ({ context }) => Math.max(0, deadlineOf(context) - now()),
    },
  });
}

export const workerLivenessMachine = setup({
  types: {
    input: {} as WorkerLivenessInput,
    context: {} as WorkerLivenessContext,
    events: {} as WorkerLivenessEvent,
    emitted: {} as WorkerEvent,
  },
  delays: {
    /** The time left until the deadline (a full timeout when the countdown has just started). */
    heartbeatTimeout: ({ context }) => Math.max(0, deadlineOf(context) - Date.now()),
  },
  guards: {
    wasRestoredActive: ({ context }) => context.restoredStatus === 'active',
    wasRestoredInactive: ({ context }) => context.restoredStatus === 'inactive',
    addressOrCapacityChanged: ({ context, event }) => heartbeatChangesWorker(context, event),
  },
  actions: {
    recordHeartbeat: assign({
      lastHeartbeatAt: ({ event }) => event.receivedAt,
      armedAt: ({ event }) => event.receivedAt,
    }),
    recordAddressAndCapacity: assign({
      address: ({ event }) => event.address,
      capacity: ({ event }) => event.capacity,
    }),
    nextSeq: assign({ seq: ({ context }) => context.seq + 1 }),
    emitRegistered: emit(({ context }) => ({
      type: 'WorkerRegistered' as const,
      workerId: context.workerId,
      at: context.lastHeartbeatAt,
      seq: context.seq,
      address: context.address,
      capacity: context.capacity,
    })),
    emitActivated: emit(({ context }) => ({
      type: 'WorkerActivated' as const,
      workerId: context.workerId,
      at: context.lastHeartbeatAt,
      seq: context.seq,
      lastHeartbeatAt: context.lastHeartbeatAt,
    })),
    emitCapacityChanged: emit(({ context }) => ({
      type: 'WorkerCapacityChanged' as const,
      workerId: context.workerId,
      at: context.lastHeartbeatAt,
      seq: context.seq,
      address: context.address,
      capacity: context.capacity,
    })),
    emitInactive: emit(({ context }) => {
      const at = deadlineOf(context);
      return {
        type: 'WorkerInactive' as const,
        workerId: context.workerId,
        at,
        seq: context.seq,
        lastHeartbeatAt: context.lastHeartbeatAt,
        silentForMs: at - context.lastHeartbeatAt,
      };
    }),
  },
}).createMachine({
  id: 'workerLiveness',
  context: ({ input }) =>
    'known' in input
      ? {
          workerId: input.workerId,
          heartbeatTimeoutMs: input.heartbeatTimeoutMs,
          seq: input.known.seq,
          lastHeartbeatAt: input.known.lastHeartbeatAt,
          // The monitor could not see heartbeats while it was down: count a full timeout from now.
          armedAt: input.restoredAt,
          address: input.known.address,
          capacity: input.known.capacity,
          restoredStatus: input.known.status,
        }
      : {
          workerId: input.workerId,
          heartbeatTimeoutMs: input.heartbeatTimeoutMs,
          seq: 0,
          lastHeartbeatAt: input.firstHeartbeat.receivedAt,
          armedAt: input.firstHeartbeat.receivedAt,
          address: input.firstHeartbeat.address,
          capacity: input.firstHeartbeat.capacity,
          restoredStatus: undefined,
        },
  initial: 'starting',
  states: {
    starting: {
      always: [
        { guard: 'wasRestoredInactive', target: 'inactive' },
        // Entering `active` arms the timeout, counted from `restoredAt`.
        { guard: 'wasRestoredActive', target: 'active' },
        { target: 'active', actions: ['nextSeq', 'emitRegistered'] },
      ],
    },
    active: {
      after: {
        heartbeatTimeout: { target: 'inactive', actions: ['nextSeq', 'emitInactive'] },
      },
      on: {
        // Re-entering `active` cancels the pending `after` timer and starts a new one.
        HEARTBEAT: [
          {
            guard: 'addressOrCapacityChanged',
            target: 'active',
            reenter: true,
            actions: ['recordHeartbeat', 'recordAddressAndCapacity', 'nextSeq', 'emitCapacityChanged'],
          },
          { target: 'active', reenter: true, actions: 'recordHeartbeat' },
        ],
      },
    },
    inactive: {
      on: {
        HEARTBEAT: [
          {
            guard: 'addressOrCapacityChanged',
            target: 'active',
            actions: [
              'recordHeartbeat',
              'nextSeq',
              'emitActivated',
              'recordAddressAndCapacity',
              'nextSeq',
              'emitCapacityChanged',
            ],
          },
          { target: 'active', actions: ['recordHeartbeat', 'nextSeq', 'emitActivated'] },
        ],
      },
    },
  },
});
