import { type Actor, type AnyActorRef, createActor, createMachine } from 'xstate';
import { type Clock, SYSTEM_CLOCK } from '../streams/clock.js';
import type { Heartbeat } from '../streams/heartbeat.js';
import type { WorkerStatus, WorkerStreamEvent } from '../streams/worker-events.js';
import {
  type HeartbeatEvent,
  heartbeatChangesWorker,
  type KnownWorker,
  livenessMachineOnClock,
  type WorkerLivenessInput,
  type workerLivenessMachine,
} from './liveness-machine.js';
import type { OperatorOutcome } from './liveness-settings.js';
import { TimerQueue } from './timer-queue.js';

export interface FleetOptions {
  heartbeatTimeoutMs: number;
  /** Receives every transition of every worker, in order per worker, and every disruption change. */
  onEvent: (event: WorkerStreamEvent) => void;
  /**
   * Most workers tracked at once. Heartbeats from further never-seen ids are refused, so a
   * flood of made-up ids cannot exhaust memory; known workers are always served.
   */
  maxWorkers: number;
  /** Where the actors' delayed transitions are scheduled and time is read; tests pass a SimulatedClock. */
  clock?: Clock;
}

/** What became of a heartbeat handed to the fleet. */
export type HeartbeatOutcome = 'accepted' | 'fleet-full' | 'suspended';

type WorkerActor = Actor<typeof workerLivenessMachine>;

interface WorkerSlot {
  actor: WorkerActor;
  /** Receive time of the newest heartbeat the actor has not been given yet (see receiveHeartbeat). */
  pendingHeartbeatAt: number | undefined;
}

/** Owns the actor system the worker actors share; it has no behaviour of its own. */
const fleetRootMachine = createMachine({ id: 'fleet' });

/**
 * Routes each valid heartbeat to its worker's liveness actor, creating the actor on the
 * first heartbeat from a new id, and forwards the events the actors emit. It knows no NATS:
 * the service that wires it feeds it heartbeats and publishes its events.
 *
 * Every worker actor is created with the fleet's root actor as `parent`, so all of them share
 * one actor system (registry, scheduler, clock) instead of allocating one each: that took a
 * worker from about 5.2 KB to 3.3 KB. Their timers all live in one TimerQueue. The price: XState
 * will not stop a non-root actor from outside, so `stop()` cancels every timer at once and
 * drops the actors, which leaves them inert.
 *
 * Heartbeats that bring no news are coalesced. In `active`, a heartbeat with the known address
 * and capacity only moves the deadline; nothing can observe that move until the actor's timer
 * fires. So the fleet keeps the newest such receive time; when the actor's timer comes due it
 * postpones the timer to that heartbeat's deadline (TimerQueue's `beforeFire`), and it hands
 * the heartbeat over only when that deadline has come too, or before any other heartbeat. The
 * actor makes the same transitions at the same instants and emits the same events as if it had
 * been given every heartbeat; a worker that keeps beating costs no XState transition at all.
 */
export class Fleet {
  private readonly workers = new Map<string, WorkerSlot>();
  private readonly timers: TimerQueue<WorkerSlot>;
  private readonly machine: typeof workerLivenessMachine;
  private readonly root: Actor<typeof fleetRootMachine>;
  /** Workers frozen by `suspend()`, waiting for `resume()`. */
  private suspendedWorkers?: KnownWorker[];
  private stopped = false;

  constructor(private readonly options: FleetOptions) {
    this.timers = new TimerQueue<WorkerSlot>({
      clock: options.clock ?? SYSTEM_CLOCK,
      beforeFire: (slot) => this.catchUpBeforeTimer(slot),
      // On the wall clock, a crowd of due timers must not hold up the heartbeats; a simulated
      // clock fires everything due at once, as tests expect.
      ...(options.clock ? {} : { continueLater: (resume: () => void) => setImmediate(resume) }),
    });
    this.machine = livenessMachineOnClock(() => this.timers.now());
    this.root = createActor(fleetRootMachine, { clock: this.timers }).start();
  }

  receiveHeartbeat(heartbeat: Heartbeat, receivedAt: number): HeartbeatOutcome {
    if (this.stopped || this.suspendedWorkers) return 'suspended';
    const slot = this.workers.get(heartbeat.workerId);
    if (!slot) {
      if (this.workers.size >= this.options.maxWorkers) return 'fleet-full';
      this.spawn({
        workerId: heartbeat.workerId,
        heartbeatTimeoutMs: this.options.heartbeatTimeoutMs,
        firstHeartbeat: { receivedAt, address: heartbeat.address, capacity: heartbeat.capacity },
      });
      return 'accepted';
    }
    const snapshot = slot.actor.getSnapshot();
    if (snapshot.matches('active') && !heartbeatChangesWorker(snapshot.context, heartbeat)) {
      slot.pendingHeartbeatAt = receivedAt;
      return 'accepted';
    }
    // News (a comeback, a new capacity): the actor takes it now; an older coalesced beat is superseded.
    slot.pendingHeartbeatAt = undefined;
    this.deliver(slot, {
      type: 'HEARTBEAT',
      receivedAt,
      address: heartbeat.address,
      capacity: heartbeat.capacity,
    });
    return 'accepted';
  }

  /**
   * Rebuilds the actors of workers known from the event log, after a monitor restart.
   * Active ones get a full timeout counted from `restoredAt`: the monitor saw no heartbeats
   * while it was down, so silence during that time proves nothing. Event numbers continue
   * from each worker's last `seq`.
   */
  restore(workers: Iterable<KnownWorker>, restoredAt: number): void {
    if (this.stopped) return;
    for (const known of workers) {
      if (this.workers.has(known.workerId)) continue;
      this.spawn({
        workerId: known.workerId,
        heartbeatTimeoutMs: this.options.heartbeatTimeoutMs,
        known,
        restoredAt,
      });
    }
  }

  private spawn(input: WorkerLivenessInput): void {
    const actor = createActor(this.machine, { parent: this.root as AnyActorRef, input });
    const slot: WorkerSlot = { actor, pendingHeartbeatAt: undefined };
    actor.on('*', (event) => this.options.onEvent(event));
    this.workers.set(input.workerId, slot);
    this.timers.runFor(slot, () => actor.start());
  }

  private deliver(slot: WorkerSlot, event: HeartbeatEvent): void {
    this.timers.runFor(slot, () => slot.actor.send(event));
  }

  /**
   * A worker's timer is due. If a quiet heartbeat came since the actor last heard, the worker is
   * alive until that heartbeat's deadline: the timer is postponed to it, and the actor, which
   * could not have noticed anything meanwhile, is left alone. Only when that deadline has come
   * too is the heartbeat handed over; the actor then counts down from it (to now) and turns
   * inactive at exactly that deadline.
   */
  private catchUpBeforeTimer(slot: WorkerSlot): number | undefined {
    const receivedAt = slot.pendingHeartbeatAt;
    if (receivedAt === undefined) return undefined;
    const deadline = receivedAt + this.options.heartbeatTimeoutMs;
    if (deadline > this.timers.now()) return deadline;
    this.deliverPendingHeartbeat(slot);
    return undefined;
  }

  private deliverPendingHeartbeat(slot: WorkerSlot): void {
    const receivedAt = slot.pendingHeartbeatAt;
    if (receivedAt === undefined) return;
    slot.pendingHeartbeatAt = undefined;
    const { address, capacity } = slot.actor.getSnapshot().context;
    this.deliver(slot, { type: 'HEARTBEAT', receivedAt, address, capacity });
  }

  /**
   * Freezes every worker while the monitor cannot see heartbeats (its NATS connection is
   * down): no timer may fire, because silence it cannot hear proves nothing about a worker.
   */
  suspend(): void {
    if (this.stopped || this.suspendedWorkers) return;
    const frozen: KnownWorker[] = [];
    for (const slot of this.workers.values()) {
      // A coalesced heartbeat is part of what the worker last told us.
      this.deliverPendingHeartbeat(slot);
      frozen.push(knownWorkerOf(slot.actor));
    }
    // The actors cannot be stopped one by one (see the class comment): without their timers,
    // and dropped from the map, they are inert.
    this.timers.clear();
    this.workers.clear();
    this.suspendedWorkers = frozen;
  }

  /** Thaws the workers frozen by `suspend()`, each active one with a full timeout from `resumedAt`. */
  resume(resumedAt: number): void {
    const frozen = this.suspendedWorkers;
    if (this.stopped || !frozen) return;
    this.suspendedWorkers = undefined;
    this.restore(frozen, resumedAt);
  }

  get isSuspended(): boolean {
    return this.suspendedWorkers !== undefined;
  }

  statusOf(workerId: string): WorkerStatus | undefined {
    const snapshot = this.workers.get(workerId)?.actor.getSnapshot();
    if (snapshot) return snapshot.matches('inactive') ? 'inactive' : 'active';
    return this.suspendedWorkers?.find((worker) => worker.workerId === workerId)?.status;
  }

  get size(): number {
    return this.suspendedWorkers?.length ?? this.workers.size;
  }

  countByStatus(): Record<WorkerStatus, number> {
    const counts: Record<WorkerStatus, number> = { active: 0, suspect: 0, inactive: 0, removed: 0 };
    for (const slot of this.workers.values()) counts[knownWorkerOf(slot.actor).status]++;
    for (const worker of this.suspendedWorkers ?? []) counts[worker.status]++;
    return counts;
  }

  // --- operator controls (`cloudai workers cordon|uncordon|remove`, `cloudai disruption end`) ---

  /** No new tasks for the worker (WorkerCordoned); its tasks stay. Refused for unknown or removed ids. */
  cordon(workerId: string): OperatorOutcome {
    return { ok: false, error: `cordon of ${workerId} is not implemented yet` };
  }

  /** Schedulable again (WorkerUncordoned). */
  uncordon(workerId: string): OperatorOutcome {
    return { ok: false, error: `uncordon of ${workerId} is not implemented yet` };
  }

  /** Forgets an inactive worker (WorkerRemoved); it re-registers if it heartbeats again. */
  remove(workerId: string): OperatorOutcome {
    return { ok: false, error: `remove of ${workerId} is not implemented yet` };
  }

  /** Ends disruption mode (DisruptionEnded, endedBy operator): the workers it held turn inactive now. */
  endDisruption(): OperatorOutcome {
    return { ok: false, error: 'ending a disruption is not implemented yet' };
  }

  /** Cancels every pending timer and drops every actor; later heartbeats are ignored. */
  stop(): void {
    this.stopped = true;
    this.timers.clear();
    this.workers.clear();
    this.suspendedWorkers = undefined;
    this.root.stop();
  }
}

function knownWorkerOf(actor: WorkerActor): KnownWorker {
  const snapshot = actor.getSnapshot();
  const { workerId, seq, lastHeartbeatAt, address, capacity } = snapshot.context;
  return {
    workerId,
    status: snapshot.matches('inactive') ? 'inactive' : 'active',
    seq,
    lastHeartbeatAt,
    address,
    capacity,
  };
}
