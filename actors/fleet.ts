import { type Actor, type AnyActorRef, createActor, createMachine } from 'xstate';
import type { Heartbeat } from '../streams/heartbeat.js';
import type { WorkerEvent, WorkerStatus } from '../streams/worker-events.js';
import {
  type KnownWorker,
  livenessMachineOnClock,
  type WorkerLivenessInput,
  type workerLivenessMachine,
} from './liveness-machine.js';
import { type LivenessClock, SYSTEM_CLOCK, TimerQueue } from './timer-queue.js';

export type { LivenessClock } from './timer-queue.js';

export interface FleetOptions {
  heartbeatTimeoutMs: number;
  /** Receives every transition of every worker, in order per worker. */
  onEvent: (event: WorkerEvent) => void;
  /** Where the actors' delayed transitions are scheduled and time is read; tests pass a SimulatedClock. */
  clock?: LivenessClock;
}

type WorkerActor = Actor<typeof workerLivenessMachine>;

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
 */
export class Fleet {
  private readonly actors = new Map<string, WorkerActor>();
  private readonly timers: TimerQueue;
  private readonly machine: typeof workerLivenessMachine;
  private readonly root: Actor<typeof fleetRootMachine>;
  private stopped = false;

  constructor(private readonly options: FleetOptions) {
    this.timers = new TimerQueue(options.clock ?? SYSTEM_CLOCK);
    this.machine = livenessMachineOnClock(() => this.timers.now());
    this.root = createActor(fleetRootMachine, { clock: this.timers }).start();
  }

  receiveHeartbeat(heartbeat: Heartbeat, receivedAt: number): void {
    if (this.stopped) return;
    const existing = this.actors.get(heartbeat.workerId);
    if (existing) {
      existing.send({
        type: 'HEARTBEAT',
        receivedAt,
        address: heartbeat.address,
        capacity: heartbeat.capacity,
      });
      return;
    }
    this.spawn({
      workerId: heartbeat.workerId,
      heartbeatTimeoutMs: this.options.heartbeatTimeoutMs,
      firstHeartbeat: { receivedAt, address: heartbeat.address, capacity: heartbeat.capacity },
    });
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
      if (this.actors.has(known.workerId)) continue;
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
    actor.on('*', (event) => this.options.onEvent(event));
    this.actors.set(input.workerId, actor);
    actor.start();
  }

  statusOf(workerId: string): WorkerStatus | undefined {
    const snapshot = this.actors.get(workerId)?.getSnapshot();
    if (!snapshot) return undefined;
    return snapshot.matches('inactive') ? 'inactive' : 'active';
  }

  get size(): number {
    return this.actors.size;
  }

  /** Timers waiting in the fleet's queue (about one per active worker). */
  get pendingTimers(): number {
    return this.timers.size;
  }

  countByStatus(): Record<WorkerStatus, number> {
    const counts: Record<WorkerStatus, number> = { active: 0, inactive: 0 };
    for (const workerId of this.actors.keys()) {
      const status = this.statusOf(workerId);
      if (status) counts[status]++;
    }
    return counts;
  }

  /** Cancels every pending timer and drops every actor; later heartbeats are ignored. */
  stop(): void {
    this.stopped = true;
    this.timers.clear();
    this.actors.clear();
    this.root.stop();
  }
}
