import { and, assign, emit, enqueueActions, not, setup } from 'xstate';
import type { Capacity } from '../streams/contracts/heartbeat.js';
import type {
  DrainEndedBy,
  StoppedAttempt,
  WorkerEvent,
  WorkerStatus,
} from '../streams/contracts/worker-events.js';
import type { LivenessSettings } from './liveness-settings.js';
import type { Suspicion } from './phi-accrual.js';

/**
 * One worker's liveness: `active` while heartbeats arrive, `suspect` once they are late (φ),
 * `inactive` once `heartbeatTimeout` passes without one, `left` when the worker announces a
 * clean stop, `removed` when an operator forgets an inactive or left worker. Each transition emits one WorkerEvent, numbered by `seq`. Time comes from the
 * events and from the fleet's clock (`hooks.now`), so tests drive it with a SimulatedClock.
 *
 * Countdowns run to deadlines counted from `armedAt` (the last heartbeat, or the restart), not
 * from now: the fleet may hand over a quiet heartbeat long after it arrived (see Fleet).
 * Disruption mode is the fleet's decision, passed in as hooks.
 */

/** A worker as recorded before the monitor (re)started: its last status, flags and event number. */
export interface KnownWorker {
  workerId: string;
  status: WorkerStatus;
  seq: number;
  lastHeartbeatAt: number;
  address: string;
  capacity: Capacity;
  flapping: boolean;
  cordoned: boolean;
  /** Absent in workers recorded before drains existed. */
  draining?: boolean;
  /** When it entered its status, on the wall clock; absent when unknown (its next event then omits the stretch's length). */
  statusSince?: number;
}

export type WorkerLivenessInput =
  | {
      workerId: string;
      settings: LivenessSettings;
      /** The heartbeat that revealed a never-seen (or removed) worker. */
      firstHeartbeat: { receivedAt: number; address: string; capacity: Capacity; suspicion: Suspicion };
      /** `seq` of the last event of a removed worker registering again: numbering continues. */
      previousSeq: number;
    }
  | {
      workerId: string;
      settings: LivenessSettings;
      /** A worker known from the event log; an active one gets a full timeout from `restoredAt`. */
      known: KnownWorker;
      restoredAt: number;
      suspicion: Suspicion;
    };

export interface WorkerLivenessContext {
  workerId: string;
  /** Shared by every worker of the fleet. */
  settings: LivenessSettings;
  /** `seq` of the last event emitted for this worker. */
  seq: number;
  lastHeartbeatAt: number;
  /** When the running countdowns started (the last heartbeat, or the restart). */
  armedAt: number;
  /** When the worker becomes suspect, as decided at `armedAt`. */
  suspicion: Suspicion;
  address: string;
  capacity: Capacity;
  /** Set when the actor was rebuilt from the log rather than created by a first heartbeat. */
  restoredStatus: WorkerStatus | undefined;
  /** Times it came back from inactive, within the flap window. */
  comebacks: readonly number[];
  flapping: boolean;
  /** Since when it has been up without going inactive: the hold-down of a flapping worker counts from here. */
  upSince: number;
  cordoned: boolean;
  /** An operator drains it: no new tasks; the drain's progress and end come in from outside. */
  draining: boolean;
}

export type HeartbeatEvent = {
  type: 'HEARTBEAT';
  receivedAt: number;
  address: string;
  capacity: Capacity;
  /** The worker's φ window as of this heartbeat, turned into the silence that makes it suspect. */
  suspicion: Suspicion;
};

export type WorkerLivenessEvent =
  | HeartbeatEvent
  | { type: 'CORDON'; at: number }
  | { type: 'UNCORDON'; at: number }
  | { type: 'REMOVE'; at: number }
  | { type: 'DRAIN'; at: number; deadlineMs: number; remainingTasks: number }
  | { type: 'DRAIN_PROGRESS'; at: number; remainingTasks: number }
  | { type: 'DRAIN_END'; at: number; endedBy: DrainEndedBy; remainingTasks: number }
  | { type: 'DRAIN_CANCEL'; at: number }
  /** The worker announced that it stops, having stopped these attempts. */
  | { type: 'LEAVE'; at: number; stoppedAttempts: readonly StoppedAttempt[] }
  /** Disruption mode ended; a worker held `suspect` past its deadline is now judged. */
  | { type: 'DISRUPTION_ENDED'; at: number; endedBy: 'heartbeats' | 'operator' };

/** Most workers never come back from inactive: they share this one empty list. */
const NO_COMEBACKS: readonly number[] = Object.freeze([]);

function sameCapacity(a: Capacity, b: Capacity): boolean {
  return (
    a.cpu === b.cpu &&
    a.memoryGb === b.memoryGb &&
    a.storageGb === b.storageGb &&
    a.gpu === b.gpu &&
    a.runtime === b.runtime
  );
}

/** Whether a heartbeat brings news besides its time: a new address or capacity. */
export function heartbeatChangesWorker(
  context: Pick<WorkerLivenessContext, 'address' | 'capacity'>,
  heartbeat: Pick<HeartbeatEvent, 'address' | 'capacity'>,
): boolean {
  return heartbeat.address !== context.address || !sameCapacity(heartbeat.capacity, context.capacity);
}

function inactiveDeadlineOf(context: WorkerLivenessContext): number {
  return context.armedAt + context.settings.heartbeatTimeoutMs;
}

/** A suspicion that would come at or after the hard timeout never comes: the timeout decides. */
function suspicionComesFirst(context: Pick<WorkerLivenessContext, 'settings' | 'suspicion'>): boolean {
  return context.suspicion.afterMs < context.settings.heartbeatTimeoutMs;
}

function holdDownEndOf(context: WorkerLivenessContext): number {
  return context.upSince + context.settings.flapDamping.holdDownMs;
}

/**
 * When an active worker's one timer must wake it: the first of its suspicion (if it comes
 * before the timeout), its timeout, and the end of its hold-down (if flapping). One timer per
 * worker, not three: pending XState delays are what a large fleet's memory is made of.
 */
function activeDeadlineOf(context: WorkerLivenessContext): number {
  return firstDeadline(context, context.armedAt, context.suspicion);
}

/** The first deadline of an active worker whose countdowns run from `armedAt` with `suspicion`. */
function firstDeadline(context: WorkerLivenessContext, armedAt: number, suspicion: Suspicion): number {
  const { heartbeatTimeoutMs } = context.settings;
  let deadline = armedAt + Math.min(suspicion.afterMs, heartbeatTimeoutMs);
  if (context.flapping) deadline = Math.min(deadline, holdDownEndOf(context));
  return deadline;
}

function suspicionDeadlineOf(context: WorkerLivenessContext): number {
  return context.armedAt + context.suspicion.afterMs;
}

/** What is due at `now` for a worker whose timer fired; the machine's guards read it. */
function dueAt(context: WorkerLivenessContext, now: number) {
  return {
    holdDownOver: context.flapping && now >= holdDownEndOf(context),
    suspicion: suspicionComesFirst(context) && now >= suspicionDeadlineOf(context),
    timeout: now >= inactiveDeadlineOf(context),
  };
}

/**
 * The first instant an active worker's timers would decide anything if it had been given a
 * heartbeat received at `heartbeatAt`: the fleet postpones a due timer to it instead of
 * handing the actor a heartbeat that changes nothing observable before then.
 */
export function nextDecisionAfterHeartbeat(
  context: WorkerLivenessContext,
  heartbeatAt: number,
  suspicion: Suspicion,
): number {
  // Called for nearly every heartbeat of a steady fleet (see Fleet): no copy of the context.
  return firstDeadline(context, heartbeatAt, suspicion);
}

/** The fields every event of the worker carries; `seq` is the one `nextSeq` just counted. */
function numbered(context: WorkerLivenessContext, at: number) {
  return { workerId: context.workerId, at, seq: context.seq };
}

/** A heartbeat ended an outage (`WorkerActivated`) or a suspicion (`WorkerRecovered`). */
function heardAgain(type: 'WorkerActivated' | 'WorkerRecovered', context: WorkerLivenessContext) {
  return { type, ...numbered(context, context.lastHeartbeatAt), lastHeartbeatAt: context.lastHeartbeatAt };
}

function suspected(context: WorkerLivenessContext, at: number, suspectAfterMs: number, phi: number | null) {
  return {
    type: 'WorkerSuspected' as const,
    ...numbered(context, at),
    lastHeartbeatAt: context.lastHeartbeatAt,
    silentForMs: at - context.lastHeartbeatAt,
    suspectAfterMs,
    phi,
  };
}

/** Held `suspect` at its timeout by disruption mode, rather than declared inactive. */
function heldAtTimeout(context: WorkerLivenessContext) {
  const event = suspected(context, inactiveDeadlineOf(context), context.settings.heartbeatTimeoutMs, null);
  return { ...event, heldByDisruption: true as const };
}

function inactive(context: WorkerLivenessContext, at: number) {
  return {
    type: 'WorkerInactive' as const,
    ...numbered(context, at),
    lastHeartbeatAt: context.lastHeartbeatAt,
    silentForMs: at - context.lastHeartbeatAt,
  };
}

/** The context an actor starts from: shared by the machine and the fleet's dormant workers. */
export function initialContextOf(input: WorkerLivenessInput): WorkerLivenessContext {
  return 'known' in input
    ? {
        workerId: input.workerId,
        settings: input.settings,
        seq: input.known.seq,
        lastHeartbeatAt: input.known.lastHeartbeatAt,
        // The monitor could not see heartbeats while it was down: count from now.
        armedAt: input.restoredAt,
        suspicion: input.suspicion,
        address: input.known.address,
        capacity: input.known.capacity,
        restoredStatus: input.known.status,
        comebacks: NO_COMEBACKS,
        flapping: input.known.flapping,
        upSince: input.restoredAt,
        cordoned: input.known.cordoned,
        draining: input.known.draining ?? false,
      }
    : {
        workerId: input.workerId,
        settings: input.settings,
        seq: input.previousSeq,
        lastHeartbeatAt: input.firstHeartbeat.receivedAt,
        armedAt: input.firstHeartbeat.receivedAt,
        suspicion: input.firstHeartbeat.suspicion,
        address: input.firstHeartbeat.address,
        capacity: input.firstHeartbeat.capacity,
        restoredStatus: undefined,
        comebacks: NO_COMEBACKS,
        flapping: false,
        upSince: input.firstHeartbeat.receivedAt,
        cordoned: false,
        draining: false,
      };
}

/** The WorkerRegistered of a worker that just registered (its `seq` already counted). */
export function registeredEvent(context: WorkerLivenessContext) {
  return {
    type: 'WorkerRegistered' as const,
    ...numbered(context, context.lastHeartbeatAt),
    address: context.address,
    capacity: context.capacity,
  };
}

/** How long an active worker's timer waits, at `now`: the time left until its first deadline. */
export function activeDelayMs(context: WorkerLivenessContext, now: number): number {
  return Math.max(0, activeDeadlineOf(context) - now);
}

/** How long a suspect worker's timer waits, at `now`: the time left until its timeout. */
export function suspectDelayMs(context: WorkerLivenessContext, now: number): number {
  return Math.max(0, inactiveDeadlineOf(context) - now);
}

/** What the fleet decides for its workers: the clock, and disruption mode. */
export interface LivenessMachineHooks {
  /** The clock the actors' timers run on. */
  now: () => number;
  /** Whether a worker whose timeout has come should be held `suspect` (disruption mode). */
  fleetDoubtsItsView: (workerId: string) => boolean;
  /** A worker is being held `suspect` at its timeout. */
  holdForDisruption: (workerId: string) => void;
}

export type WorkerLivenessMachine = ReturnType<typeof livenessMachineFor>;

/** The liveness machine wired to a fleet: its clock and its disruption guard. */
export function livenessMachineFor(hooks: LivenessMachineHooks) {
  return setup({
    types: {
      input: {} as WorkerLivenessInput,
      context: {} as WorkerLivenessContext,
      events: {} as WorkerLivenessEvent,
      emitted: {} as WorkerEvent,
    },
    delays: {
      /** The time left until the first of the active worker's deadlines. */
      activeDeadline: ({ context }) => activeDelayMs(context, hooks.now()),
      heartbeatTimeout: ({ context }) => suspectDelayMs(context, hooks.now()),
    },
    guards: {
      wasRestoredActive: ({ context }) => context.restoredStatus === 'active',
      wasRestoredSuspect: ({ context }) => context.restoredStatus === 'suspect',
      wasRestoredInactive: ({ context }) => context.restoredStatus === 'inactive',
      wasRestoredLeft: ({ context }) => context.restoredStatus === 'left',
      holdDownOver: ({ context }) => dueAt(context, hooks.now()).holdDownOver,
      suspicionDue: ({ context }) => dueAt(context, hooks.now()).suspicion,
      timeoutDue: ({ context }) => dueAt(context, hooks.now()).timeout,
      isCordoned: ({ context }) => context.cordoned,
      isDraining: ({ context }) => context.draining,
      fleetDoubtsItsView: ({ context }) => hooks.fleetDoubtsItsView(context.workerId),
      /** The timeout passed while the worker was held: it is due a verdict. */
      deadlinePassed: ({ context, event }) => 'at' in event && event.at >= inactiveDeadlineOf(context),
      endedByOperator: ({ event }) => event.type === 'DISRUPTION_ENDED' && event.endedBy === 'operator',
    },
    actions: {
      recordHeartbeat: assign(({ event }) =>
        event.type === 'HEARTBEAT'
          ? { lastHeartbeatAt: event.receivedAt, armedAt: event.receivedAt, suspicion: event.suspicion }
          : {},
      ),
      /** A fresh countdown from the end of a disruption: silence during it proves nothing. */
      rearmFromEvent: assign(({ event }) => ('at' in event ? { armedAt: event.at } : {})),
      nextSeq: assign({ seq: ({ context }) => context.seq + 1 }),
      holdForDisruption: ({ context }) => hooks.holdForDisruption(context.workerId),
      emitRegistered: emit(({ context }) => registeredEvent(context)),
      emitActivated: emit(({ context }) => heardAgain('WorkerActivated', context)),
      emitRecovered: emit(({ context }) => heardAgain('WorkerRecovered', context)),
      /**
       * After whatever else a heartbeat did: if it brings a new address or capacity, records them
       * (WorkerCapacityChanged, numbered after any event the heartbeat already emitted).
       */
      recordCapacityChange: enqueueActions(({ context, event, enqueue }) => {
        if (event.type !== 'HEARTBEAT' || !heartbeatChangesWorker(context, event)) return;
        const { address, capacity } = event;
        const seq = context.seq + 1;
        enqueue.assign({ address, capacity, seq });
        enqueue.emit({
          type: 'WorkerCapacityChanged' as const,
          workerId: context.workerId,
          at: context.lastHeartbeatAt,
          seq,
          address,
          capacity,
        });
      }),
      emitSuspected: emit(({ context }) =>
        suspected(context, suspicionDeadlineOf(context), context.suspicion.afterMs, context.suspicion.phi),
      ),
      /** Held at the timeout without having been suspected first (φ would have come later). */
      emitSuspectedAtTimeout: emit(({ context }) => heldAtTimeout(context)),
      emitInactive: emit(({ context }) => inactive(context, inactiveDeadlineOf(context))),
      /** An operator ended a disruption: a worker held past its deadline is inactive as of now. */
      emitInactiveNow: emit(({ context, event }) =>
        inactive(context, 'at' in event ? event.at : inactiveDeadlineOf(context)),
      ),
      /** A comeback from inactive: counted; more than `threshold` within the window start flapping. */
      recordComeback: enqueueActions(({ context, enqueue }) => {
        const { threshold, windowMs, holdDownMs } = context.settings.flapDamping;
        const at = context.lastHeartbeatAt;
        const comebacks = [...context.comebacks.filter((time) => time > at - windowMs), at];
        enqueue.assign({ comebacks, upSince: at });
        if (comebacks.length > threshold && !context.flapping) {
          enqueue.assign({ flapping: true, seq: context.seq + 1 });
          enqueue.emit({
            type: 'WorkerFlapping' as const,
            workerId: context.workerId,
            at,
            seq: context.seq + 1,
            comebacks: comebacks.length,
            windowMs,
            holdDownMs,
          });
        }
      }),
      stabilize: enqueueActions(({ context, enqueue }) => {
        const at = holdDownEndOf(context);
        enqueue.assign({ flapping: false, comebacks: NO_COMEBACKS, seq: context.seq + 1 });
        enqueue.emit({
          type: 'WorkerStabilized' as const,
          workerId: context.workerId,
          at,
          seq: context.seq + 1,
          stableForMs: at - context.upSince,
        });
      }),
      /** Cordons or uncordons (WorkerCordoned, WorkerUncordoned): only new tasks are affected. */
      setCordoned: enqueueActions(({ context, event, enqueue }, params: { cordoned: boolean }) => {
        const at = 'at' in event ? event.at : context.lastHeartbeatAt;
        const seq = context.seq + 1;
        enqueue.assign({ cordoned: params.cordoned, seq });
        const type = params.cordoned ? ('WorkerCordoned' as const) : ('WorkerUncordoned' as const);
        enqueue.emit({ type, workerId: context.workerId, at, seq });
      }),
      /** Drain events: numbered like the others; the fleet's drain coordinator decides when. */
      drain: enqueueActions(({ context, event, enqueue }) => {
        const numberedNext = {
          workerId: context.workerId,
          at: 'at' in event ? event.at : 0,
          seq: context.seq + 1,
        };
        enqueue.assign({ seq: context.seq + 1 });
        switch (event.type) {
          case 'DRAIN':
            enqueue.assign({ draining: true });
            enqueue.emit({
              type: 'WorkerDrainStarted' as const,
              ...numberedNext,
              deadlineMs: event.deadlineMs,
              remainingTasks: event.remainingTasks,
            });
            return;
          case 'DRAIN_PROGRESS':
            enqueue.emit({
              type: 'WorkerDrainProgress' as const,
              ...numberedNext,
              remainingTasks: event.remainingTasks,
            });
            return;
          case 'DRAIN_END':
            // A drained worker stays out of placement until an operator uncordons it.
            enqueue.assign({ draining: false, cordoned: true });
            enqueue.emit({
              type: 'WorkerDrained' as const,
              ...numberedNext,
              endedBy: event.endedBy,
              remainingTasks: event.remainingTasks,
            });
            return;
          case 'DRAIN_CANCEL':
            enqueue.assign({ draining: false });
            enqueue.emit({ type: 'WorkerDrainCancelled' as const, ...numberedNext });
            return;
        }
      }),
      emitLeft: emit(({ context, event }) => ({
        type: 'WorkerLeft' as const,
        ...numbered(context, 'at' in event ? event.at : context.lastHeartbeatAt),
        lastHeartbeatAt: context.lastHeartbeatAt,
        stoppedAttempts: event.type === 'LEAVE' ? [...event.stoppedAttempts] : [],
      })),
      /** Back after a clean stop: a fresh start, not a comeback from an outage (no flap counted). */
      recordReturn: assign(({ context }) => ({ upSince: context.lastHeartbeatAt })),
      emitRemoved: emit(({ context, event }) => ({
        type: 'WorkerRemoved' as const,
        workerId: context.workerId,
        at: 'at' in event ? event.at : context.lastHeartbeatAt,
        seq: context.seq,
      })),
    },
  }).createMachine({
    id: 'workerLiveness',
    context: ({ input }) => initialContextOf(input),
    initial: 'starting',
    // Operator controls hold in every state but `removed` (a final state takes no events).
    on: {
      CORDON: { guard: not('isCordoned'), actions: { type: 'setCordoned', params: { cordoned: true } } },
      UNCORDON: { guard: 'isCordoned', actions: { type: 'setCordoned', params: { cordoned: false } } },
      DRAIN: { guard: not('isDraining'), actions: 'drain' },
      DRAIN_PROGRESS: { guard: 'isDraining', actions: 'drain' },
      DRAIN_END: { guard: 'isDraining', actions: 'drain' },
      DRAIN_CANCEL: { guard: 'isDraining', actions: 'drain' },
    },
    states: {
      starting: {
        always: [
          { guard: 'wasRestoredInactive', target: 'inactive' },
          { guard: 'wasRestoredLeft', target: 'left' },
          // Entering `active` or `suspect` arms the timeouts, counted from `restoredAt`.
          { guard: 'wasRestoredActive', target: 'active' },
          { guard: 'wasRestoredSuspect', target: 'suspect' },
          { target: 'active', actions: ['nextSeq', 'emitRegistered'] },
        ],
      },
      active: {
        after: {
          activeDeadline: [
            // Flapping, and up for the hold-down time: schedulable again; the other deadlines re-armed.
            { guard: 'holdDownOver', target: 'active', reenter: true, actions: 'stabilize' },
            { guard: 'suspicionDue', target: 'suspect', actions: ['nextSeq', 'emitSuspected'] },
            {
              guard: and(['timeoutDue', 'fleetDoubtsItsView']),
              target: 'suspect',
              actions: ['nextSeq', 'emitSuspectedAtTimeout', 'holdForDisruption'],
            },
            { guard: 'timeoutDue', target: 'inactive', actions: ['nextSeq', 'emitInactive'] },
            // Nothing due yet (a deadline moved): wait for the next one.
            { target: 'active', reenter: true },
          ],
        },
        on: {
          // Re-entering `active` cancels the pending timers and arms new ones.
          HEARTBEAT: {
            target: 'active',
            reenter: true,
            actions: ['recordHeartbeat', 'recordCapacityChange'],
          },
          LEAVE: { target: 'left', actions: ['nextSeq', 'emitLeft'] },
        },
      },
      suspect: {
        after: {
          heartbeatTimeout: [
            { guard: 'fleetDoubtsItsView', actions: 'holdForDisruption' },
            { target: 'inactive', actions: ['nextSeq', 'emitInactive'] },
          ],
        },
        on: {
          HEARTBEAT: {
            target: 'active',
            actions: ['recordHeartbeat', 'nextSeq', 'emitRecovered', 'recordCapacityChange'],
          },
          DISRUPTION_ENDED: [
            {
              guard: and(['deadlinePassed', 'endedByOperator']),
              target: 'inactive',
              actions: ['nextSeq', 'emitInactiveNow'],
            },
            // Heartbeats came back to most workers, not to this one: a full timeout from now.
            { guard: 'deadlinePassed', target: 'suspect', reenter: true, actions: 'rearmFromEvent' },
          ],
          LEAVE: { target: 'left', actions: ['nextSeq', 'emitLeft'] },
        },
      },
      inactive: {
        on: {
          HEARTBEAT: {
            target: 'active',
            actions: [
              'recordHeartbeat',
              'nextSeq',
              'emitActivated',
              'recordComeback',
              'recordCapacityChange',
            ],
          },
          REMOVE: { target: 'removed', actions: ['nextSeq', 'emitRemoved'] },
          // Its leave came after its silence was noticed: it stopped cleanly all the same.
          LEAVE: { target: 'left', actions: ['nextSeq', 'emitLeft'] },
        },
      },
      /** Stopped cleanly: no timer runs; a heartbeat means it started again. */
      left: {
        on: {
          HEARTBEAT: {
            target: 'active',
            actions: ['recordHeartbeat', 'nextSeq', 'emitActivated', 'recordReturn', 'recordCapacityChange'],
          },
          REMOVE: { target: 'removed', actions: ['nextSeq', 'emitRemoved'] },
        },
      },
      /** Forgotten: the fleet drops the actor and keeps only its `seq`, for a registration to continue from. */
      removed: { type: 'final' },
    },
  });
}
