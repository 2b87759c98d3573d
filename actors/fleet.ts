import { type Actor, type ActorOptions, type AnyActorLogic, createActor } from 'xstate';
import type { Heartbeat } from '../streams/heartbeat.js';
import type { WorkerEvent, WorkerStatus } from '../streams/worker-events.js';
import { type KnownWorker, type WorkerLivenessInput, workerLivenessMachine } from './liveness-machine.js';

/** XState's timer source (it does not export the type by name); `SimulatedClock` is one. */
export type ActorClock = NonNullable<ActorOptions<AnyActorLogic>['clock']>;

export interface FleetOptions {
  heartbeatTimeoutMs: number;
  /** Receives every transition of every worker, in order per worker. */
  onEvent: (event: WorkerEvent) => void;
  /** Where the actors' delayed transitions are scheduled; tests pass a SimulatedClock. */
  clock?: ActorClock;
}

type WorkerActor = Actor<typeof workerLivenessMachine>;

/**
 * Routes each valid heartbeat to its worker's liveness actor, creating the actor on the
 * first heartbeat from a new id, and forwards the events the actors emit. It knows no NATS:
 * the service that wires it feeds it heartbeats and publishes its events.
 */
export class Fleet {
  private readonly actors = new Map<string, WorkerActor>();
  private stopped = false;

  constructor(private readonly options: FleetOptions) {}

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
    const { clock } = this.options;
    const actor = createActor(workerLivenessMachine, clock ? { clock, input } : { input });
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

  countByStatus(): Record<WorkerStatus, number> {
    const counts: Record<WorkerStatus, number> = { active: 0, inactive: 0 };
    for (const workerId of this.actors.keys()) {
      const status = this.statusOf(workerId);
      if (status) counts[status]++;
    }
    return counts;
  }

  /** Stops every actor (and so every pending timer); later heartbeats are ignored. */
  stop(): void {
    this.stopped = true;
    for (const actor of this.actors.values()) actor.stop();
    this.actors.clear();
  }
}
