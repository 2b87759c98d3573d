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
  /**
   * Most workers tracked at once. Heartbeats from further never-seen ids are refused, so a
   * flood of made-up ids cannot exhaust memory; known workers are always served.
   */
  maxWorkers: number;
  /** Where the actors' delayed transitions are scheduled; tests pass a SimulatedClock. */
  clock?: ActorClock;
}

/** What became of a heartbeat handed to the fleet. */
export type HeartbeatOutcome = 'accepted' | 'fleet-full' | 'suspended';

type WorkerActor = Actor<typeof workerLivenessMachine>;

/**
 * Routes each valid heartbeat to its worker's liveness actor, creating the actor on the
 * first heartbeat from a new id, and forwards the events the actors emit. It knows no NATS:
 * the service that wires it feeds it heartbeats and publishes its events.
 */
export class Fleet {
  private readonly actors = new Map<string, WorkerActor>();
  /** Workers frozen by `suspend()`, waiting for `resume()`. */
  private suspendedWorkers?: KnownWorker[];
  private stopped = false;

  constructor(private readonly options: FleetOptions) {}

  receiveHeartbeat(heartbeat: Heartbeat, receivedAt: number): HeartbeatOutcome {
    if (this.stopped || this.suspendedWorkers) return 'suspended';
    const existing = this.actors.get(heartbeat.workerId);
    if (existing) {
      existing.send({
        type: 'HEARTBEAT',
        receivedAt,
        address: heartbeat.address,
        capacity: heartbeat.capacity,
      });
      return 'accepted';
    }
    if (this.actors.size >= this.options.maxWorkers) return 'fleet-full';
    this.spawn({
      workerId: heartbeat.workerId,
      heartbeatTimeoutMs: this.options.heartbeatTimeoutMs,
      firstHeartbeat: { receivedAt, address: heartbeat.address, capacity: heartbeat.capacity },
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

  /**
   * Freezes every worker while the monitor cannot see heartbeats (its NATS connection is
   * down): no timer may fire, because silence it cannot hear proves nothing about a worker.
   */
  suspend(): void {
    if (this.stopped || this.suspendedWorkers) return;
    const frozen: KnownWorker[] = [];
    for (const actor of this.actors.values()) {
      frozen.push(knownWorkerOf(actor));
      actor.stop();
    }
    this.actors.clear();
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
    const snapshot = this.actors.get(workerId)?.getSnapshot();
    if (snapshot) return snapshot.matches('inactive') ? 'inactive' : 'active';
    return this.suspendedWorkers?.find((worker) => worker.workerId === workerId)?.status;
  }

  get size(): number {
    return this.suspendedWorkers?.length ?? this.actors.size;
  }

  countByStatus(): Record<WorkerStatus, number> {
    const counts: Record<WorkerStatus, number> = { active: 0, inactive: 0 };
    for (const actor of this.actors.values()) counts[knownWorkerOf(actor).status]++;
    for (const worker of this.suspendedWorkers ?? []) counts[worker.status]++;
    return counts;
  }

  /** Stops every actor (and so every pending timer); later heartbeats are ignored. */
  stop(): void {
    this.stopped = true;
    for (const actor of this.actors.values()) actor.stop();
    this.actors.clear();
    this.suspendedWorkers = undefined;
  }

  private spawn(input: WorkerLivenessInput): void {
    const { clock } = this.options;
    const actor = createActor(workerLivenessMachine, clock ? { clock, input } : { input });
    actor.on('*', (event) => this.options.onEvent(event));
    this.actors.set(input.workerId, actor);
    actor.start();
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
