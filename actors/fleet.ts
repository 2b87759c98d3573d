import { type Actor, type AnyActorRef, createActor, createMachine } from 'xstate';
import type { Heartbeat } from '../streams/contracts/heartbeat.js';
import {
  type DrainEndedBy,
  endsStretch,
  type StoppedAttempt,
  type WorkerEvent,
  type WorkerStatus,
  type WorkerStreamEvent,
} from '../streams/contracts/worker-events.js';
import {
  type Clock,
  fromWallTime,
  MONOTONIC_CLOCK,
  toWallTime,
  wallOffsetOf,
} from '../streams/util/clock.js';
import { DisruptionGuard } from './disruption-guard.js';
import {
  activeDelayMs,
  type HeartbeatEvent,
  heartbeatChangesWorker,
  initialContextOf,
  type KnownWorker,
  livenessMachineFor,
  nextDecisionAfterHeartbeat,
  registeredEvent,
  suspectDelayMs,
  type WorkerLivenessContext,
  type WorkerLivenessEvent,
  type WorkerLivenessInput,
  type WorkerLivenessMachine,
} from './liveness-machine.js';
import type { LivenessSettings, OperatorOutcome } from './liveness-settings.js';
import { type InterArrivalWindow, PhiAccrualDetector } from './phi-accrual.js';
import { type TimerHandle, TimerQueue } from './timer-queue.js';

export interface FleetOptions {
  settings: LivenessSettings;
  /** Receives every transition of every worker, in order per worker, and every disruption change. */
  onEvent: (event: WorkerStreamEvent) => void;
  /**
   * Most workers tracked at once. Heartbeats from further never-seen ids are refused, so a
   * flood of made-up ids cannot exhaust memory; known workers are always served.
   */
  maxWorkers: number;
  /**
   * Where the actors' delayed transitions are scheduled and time is read: the monotonic clock
   * unless a test passes a SimulatedClock. Events leave with wall-clock times.
   */
  clock?: Clock;
}

/** What became of a heartbeat handed to the fleet. */
export type HeartbeatOutcome = 'accepted' | 'fleet-full' | 'suspended';

type WorkerActor = Actor<WorkerLivenessMachine>;

/** The states a worker can be in without an actor: where a registration or a restoration leaves it. */
type DormantState = 'active' | 'suspect' | 'inactive' | 'left';

/**
 * A worker whose actor is not created yet: the machine's state and context as its actor would
 * hold them, and the one timer that state arms on entry (the actor's delayed transition).
 */
interface DormantWorker {
  state: DormantState;
  context: WorkerLivenessContext;
  /** Pending, or undefined once it fired (or the state arms none). */
  timer: TimerHandle | undefined;
}

interface WorkerSlot {
  /** Created when the worker first needs one (see `wake`); until then, `dormant` stands in for it. */
  actor: WorkerActor | undefined;
  dormant: DormantWorker | undefined;
  /** Its status as its last event (or its restoration) set it; kept here so counting is O(1). */
  status: WorkerStatus;
  /** Receive time of the newest heartbeat the actor has not been given yet (see receiveHeartbeat). */
  pendingHeartbeatAt: number | undefined;
  /** Receive time of the newest heartbeat, whoever has it: the next inter-arrival sample counts from it. */
  lastArrivalAt: number | undefined;
  /** Its inter-arrival times, for φ; created with the first sample. */
  window: InterArrivalWindow | undefined;
  /**
   * When its current status stretch began, on the fleet's clock: the `at` of its last
   * stretch-ending event, or, restored from the read model, its wall `statusSince` converted as
   * the wall clock reads at restore (a step made while the monitor was down is not seen).
   * Undefined when unknown: its next event then says nothing of the stretch's length.
   */
  stretchStartedAt: number | undefined;
}

/** Owns the actor system the worker actors share; it has no behaviour of its own. */
const fleetRootMachine = createMachine({ id: 'fleet' });

/**
 * Routes each valid heartbeat to its worker's liveness actor (created on a new id's first
 * heartbeat) and forwards the events the actors emit; it knows no NATS. The actors share one
 * actor system and one TimerQueue to keep a large fleet small; XState will not stop a non-root
 * actor from outside, so `stop()` cancels every timer and drops the actors.
 *
 * A heartbeat that brings no news only moves an active worker's deadlines, which nothing can
 * observe until a timer fires: the fleet keeps its receive time and hands it over only when a
 * timer comes due (see catchUpBeforeTimer), so a steady worker costs no XState transition.
 * The DisruptionGuard holds timed-out workers `suspect` when too many go silent at once.
 *
 * Creating an actor is most of what a registration costs, so a worker gets one only when its
 * timer fires or it is sent anything (see `spawn` and `wake`); a steady worker never needs one.
 */
export class Fleet {
  private readonly workers = new Map<string, WorkerSlot>();
  /** `seq` of the last event of each removed worker: a registration continues from it. */
  private readonly removedSeqs = new Map<string, number>();
  private readonly timers: TimerQueue<WorkerSlot>;
  private readonly machine: WorkerLivenessMachine;
  /** The delayed event each dormant state's timer delivers, as the machine names it. */
  private readonly afterEventTypes: Record<'active' | 'suspect', string>;
  /** Replaced whenever the fleet drops its actors: the system keeps every actor registered with it. */
  private root: Actor<typeof fleetRootMachine>;
  private readonly detector: PhiAccrualDetector;
  private readonly guard: DisruptionGuard;
  private readonly counts: Record<WorkerStatus, number> = {
    active: 0,
    suspect: 0,
    inactive: 0,
    left: 0,
    removed: 0,
  };
  /** Workers frozen by `suspend()`, waiting for `resume()`, and their φ windows. */
  private suspendedWorkers?: KnownWorker[];
  private readonly suspendedWindows = new Map<string, InterArrivalWindow>();
  /** Stretch starts of the frozen workers, kept on the fleet's clock so a step while frozen moves none. */
  private readonly suspendedStretchStarts = new Map<string, number>();
  private stopped = false;
  private readonly clock: Clock;

  constructor(private readonly options: FleetOptions) {
    this.clock = options.clock ?? MONOTONIC_CLOCK;
    this.timers = new TimerQueue<WorkerSlot>({
      clock: this.clock,
      beforeFire: (slot) => this.catchUpBeforeTimer(slot),
      // On the wall clock, a crowd of due timers must not hold up the heartbeats; a simulated
      // clock fires everything due at once, as tests expect.
      ...(options.clock ? {} : { continueLater: (resume: () => void) => setImmediate(resume) }),
    });
    this.detector = new PhiAccrualDetector(options.settings.suspicion);
    this.guard = new DisruptionGuard({
      settings: options.settings.disruption,
      heartbeatTimeoutMs: options.settings.heartbeatTimeoutMs,
      counts: this.counts,
      emit: (event) => options.onEvent(this.onWallClock(event)),
      release: (workerIds, event) => {
        for (const workerId of workerIds) {
          const slot = this.workers.get(workerId);
          if (slot) this.sendToWorker(slot, event);
        }
      },
    });
    this.machine = livenessMachineFor({
      now: () => this.timers.now(),
      fleetDoubtsItsView: (workerId) => this.guard.doubts(this.statusOf(workerId), this.timers.now()),
      holdForDisruption: (workerId) => this.guard.hold(workerId, this.timers.now()),
    });
    this.afterEventTypes = {
      active: delayedEventOf(this.machine, 'active'),
      suspect: delayedEventOf(this.machine, 'suspect'),
    };
    this.root = this.newRoot();
  }

  private newRoot(): Actor<typeof fleetRootMachine> {
    return createActor(fleetRootMachine, { clock: this.timers }).start();
  }

  receiveHeartbeat(heartbeat: Heartbeat, receivedAt: number): HeartbeatOutcome {
    if (this.stopped || this.suspendedWorkers) return 'suspended';
    const slot = this.workers.get(heartbeat.workerId);
    if (!slot) {
      if (this.workers.size >= this.options.maxWorkers) return 'fleet-full';
      const spawned = this.spawn(
        {
          workerId: heartbeat.workerId,
          settings: this.options.settings,
          firstHeartbeat: {
            receivedAt,
            address: heartbeat.address,
            capacity: heartbeat.capacity,
            suspicion: this.detector.suspicionOf(undefined),
          },
          previousSeq: this.removedSeqs.get(heartbeat.workerId) ?? 0,
        },
        'active',
        undefined,
      );
      spawned.lastArrivalAt = receivedAt;
      this.removedSeqs.delete(heartbeat.workerId);
      return 'accepted';
    }
    // The silence that ends with a comeback from inactive (or a restart after a leave) is not an
    // inter-arrival time.
    this.recordArrival(slot, receivedAt, slot.status !== 'inactive' && slot.status !== 'left');
    if (slot.status === 'active' && !heartbeatChangesWorker(contextOf(slot), heartbeat)) {
      slot.pendingHeartbeatAt = receivedAt;
      return 'accepted';
    }
    // News (a comeback, a recovery, a new capacity): the actor takes it now; an older coalesced beat is superseded.
    slot.pendingHeartbeatAt = undefined;
    this.deliver(slot, {
      type: 'HEARTBEAT',
      receivedAt,
      address: heartbeat.address,
      capacity: heartbeat.capacity,
      suspicion: this.suspicionOf(slot),
    });
    return 'accepted';
  }

  /**
   * Rebuilds the actors of workers known from the event log, after a monitor restart.
   * Active and suspect ones get a full timeout counted from `restoredAt`: the monitor saw no
   * heartbeats while it was down, so silence during that time proves nothing. Event numbers
   * continue from each worker's last `seq`; a removed worker is remembered only by its `seq`.
   * Their `lastHeartbeatAt` is a wall-clock time, as the events stored it; `restoredAt` is on
   * the fleet's clock (now, unless a test says otherwise).
   */
  restore(workers: Iterable<KnownWorker>, restoredAt: number = this.timers.now()): void {
    if (this.stopped) return;
    for (const known of workers) {
      if (this.workers.has(known.workerId)) continue;
      if (known.status === 'removed') {
        this.removedSeqs.set(known.workerId, known.seq);
        continue;
      }
      const window = this.suspendedWindows.get(known.workerId);
      const stretchStartedAt =
        this.suspendedStretchStarts.get(known.workerId) ??
        (known.statusSince === undefined ? undefined : fromWallTime(this.clock, known.statusSince));
      const slot = this.spawn(
        {
          workerId: known.workerId,
          settings: this.options.settings,
          known: { ...known, lastHeartbeatAt: fromWallTime(this.clock, known.lastHeartbeatAt) },
          restoredAt,
          suspicion: this.detector.suspicionOf(window),
        },
        known.status,
        stretchStartedAt,
      );
      slot.window = window;
    }
  }

  /**
   * Drops workers without a word: another control plane judges them now (their partition
   * moved). No event, no timer left; a later `restore` brings them back.
   */
  forget(workerIds: Iterable<string>): void {
    const forgotten = new Set(workerIds);
    const slots = new Set<WorkerSlot>();
    for (const workerId of forgotten) {
      const slot = this.workers.get(workerId);
      if (slot) {
        slots.add(slot);
        this.counts[slot.status]--;
        this.workers.delete(workerId);
        this.guard.forget(workerId);
      }
      this.removedSeqs.delete(workerId);
      this.suspendedWindows.delete(workerId);
      this.suspendedStretchStarts.delete(workerId);
    }
    if (slots.size > 0) this.timers.cancelWhere((owner) => slots.has(owner));
    if (this.suspendedWorkers) {
      this.suspendedWorkers = this.suspendedWorkers.filter((worker) => !forgotten.has(worker.workerId));
    }
  }

  /** The ids of the workers tracked, removed ones included (they are remembered by their `seq`). */
  *workerIds(): IterableIterator<string> {
    yield* this.workers.keys();
    yield* this.removedSeqs.keys();
    for (const worker of this.suspendedWorkers ?? []) yield worker.workerId;
  }

  /** Continues disruption mode (and its event numbering) as the event log left it. */
  restoreDisruption(state: { active: boolean; lastEventSeq: number }): void {
    this.guard.restore(state);
  }

  /**
   * A new or restored worker, as its actor would start: a registration emits WorkerRegistered
   * and enters `active`, a restored worker enters its known status; either arms that state's
   * timer. Its actor is created only when something else happens to it (see `wake`): most
   * workers of a large fleet register, or are restored, and then just keep beating.
   */
  private spawn(
    input: WorkerLivenessInput,
    status: WorkerStatus,
    stretchStartedAt: number | undefined,
  ): WorkerSlot {
    const context = initialContextOf(input);
    const registering = !('known' in input);
    // What the machine's `starting` state decides: `nextSeq` for a registration.
    if (registering) context.seq++;
    const state = registering ? 'active' : dormantStateOf(status);
    const slot: WorkerSlot = {
      actor: undefined,
      dormant: { state, context, timer: undefined },
      status,
      pendingHeartbeatAt: undefined,
      lastArrivalAt: undefined,
      window: undefined,
      stretchStartedAt,
    };
    this.counts[status]++;
    this.workers.set(input.workerId, slot);
    if (registering) this.forward(slot, registeredEvent(context));
    const delayMs = this.dormantDelayMs(state, context);
    if (delayMs !== undefined && slot.dormant) {
      const dormant = slot.dormant;
      dormant.timer = this.timers.runFor(slot, () =>
        this.timers.setTimeout(() => this.dormantTimerFired(slot), delayMs),
      );
    }
    return slot;
  }

  /** The delay the state's timer is armed with on entry, as the machine computes it; undefined when it arms none. */
  private dormantDelayMs(state: DormantState, context: WorkerLivenessContext): number | undefined {
    if (state === 'active') return activeDelayMs(context, this.timers.now());
    if (state === 'suspect') return suspectDelayMs(context, this.timers.now());
    return undefined;
  }

  /** A dormant worker's timer fired: its actor is created and handed the delayed event it would have had. */
  private dormantTimerFired(slot: WorkerSlot): void {
    const dormant = slot.dormant;
    if (!dormant || (dormant.state !== 'active' && dormant.state !== 'suspect')) return;
    dormant.timer = undefined;
    this.wake(slot).send({ type: this.afterEventTypes[dormant.state] } as unknown as WorkerLivenessEvent);
  }

  /**
   * The worker's actor, created now if it is dormant: in the state and with the context the
   * dormant worker holds, its pending timer handed over to the actor in the same place of the
   * queue, so that what follows is what an actor created at registration would have done.
   */
  private wake(slot: WorkerSlot): WorkerActor {
    if (slot.actor) return slot.actor;
    const dormant = slot.dormant as DormantWorker;
    const snapshot = this.machine.resolveState({ value: dormant.state, context: dormant.context });
    const actor = createActor(this.machine, {
      parent: this.root as AnyActorRef,
      snapshot,
      // Read only to build a first snapshot, and there is one already.
      input: undefined as unknown as WorkerLivenessInput,
    });
    actor.on('*', (event) => this.forward(slot, event));
    slot.actor = actor;
    slot.dormant = undefined;
    this.timers.runFor(slot, () => {
      actor.start();
      const { timer, state } = dormant;
      const delayMs = this.dormantDelayMs(state, dormant.context);
      if (timer === undefined || delayMs === undefined || (state !== 'active' && state !== 'suspect')) return;
      const type = this.afterEventTypes[state];
      this.timers.adopt(timer, () => actor.system.scheduler.schedule(actor, actor, { type }, delayMs, type));
    });
    return actor;
  }

  /** Passes on an event of the worker. Forwarded first: a disruption change the event causes (see track) comes after it. */
  private forward(slot: WorkerSlot, event: WorkerEvent): void {
    this.options.onEvent(this.onWallClock(this.withStretchLength(slot, event)));
    this.track(slot, event);
  }

  /**
   * The event with the length of the status stretch it ends, on the fleet's clock: uptime sums
   * these, so a step of the wall clock between two events does not skew it. A registration
   * starts the first stretch (or the first after a removal, which counts nowhere).
   */
  private withStretchLength(slot: WorkerSlot, event: WorkerEvent): WorkerEvent {
    if (event.type === 'WorkerRegistered') {
      slot.stretchStartedAt = event.at;
      return event;
    }
    if (!endsStretch(event)) return event;
    const startedAt = slot.stretchStartedAt;
    slot.stretchStartedAt = event.at;
    if (startedAt === undefined) return event;
    return { ...event, previousStretchMs: Math.max(0, event.at - startedAt) };
  }

  /**
   * The event as it leaves the fleet: its times on the wall clock, as read now. Inside, every
   * time is on the fleet's clock, so a step of the wall clock moves no deadline.
   */
  private onWallClock<Event extends WorkerStreamEvent>(event: Event): Event {
    const offset = wallOffsetOf(this.clock);
    if (offset === 0) return event;
    const shifted: Event = { ...event, at: event.at + offset };
    if ('lastHeartbeatAt' in shifted) shifted.lastHeartbeatAt += offset;
    return shifted;
  }

  /** Keeps the counts by status and the disruption guard in step with each event. */
  private track(slot: WorkerSlot, event: WorkerEvent): void {
    const status = statusAfter(event);
    if (status === undefined || status === slot.status) return;
    this.counts[slot.status]--;
    this.counts[status]++;
    slot.status = status;
    this.guard.observe(event, this.timers.now());
  }

  private deliver(slot: WorkerSlot, event: HeartbeatEvent): void {
    this.sendToWorker(slot, event);
  }

  private recordArrival(slot: WorkerSlot, receivedAt: number, countsAsInterval: boolean): void {
    if (countsAsInterval && slot.lastArrivalAt !== undefined && receivedAt >= slot.lastArrivalAt) {
      slot.window ??= this.detector.newWindow();
      slot.window.add(receivedAt - slot.lastArrivalAt);
    }
    slot.lastArrivalAt = receivedAt;
  }

  private suspicionOf(slot: WorkerSlot) {
    return this.detector.suspicionOf(slot.window);
  }

  /**
   * A worker's timer is due. If a quiet heartbeat came since the actor last heard, the worker is
   * alive at least until the first instant its timers would decide anything given that
   * heartbeat: the timer is postponed to it, and the actor, which could not have noticed
   * anything meanwhile, is left alone. Only when that instant has come too is the heartbeat
   * handed over; the actor then counts down from it and decides at exactly that instant.
   */
  private catchUpBeforeTimer(slot: WorkerSlot): number | undefined {
    const receivedAt = slot.pendingHeartbeatAt;
    if (receivedAt === undefined) return undefined;
    const decidesAt = nextDecisionAfterHeartbeat(contextOf(slot), receivedAt, this.suspicionOf(slot));
    if (decidesAt > this.timers.now()) return decidesAt;
    this.deliverPendingHeartbeat(slot);
    return undefined;
  }

  private deliverPendingHeartbeat(slot: WorkerSlot): void {
    const receivedAt = slot.pendingHeartbeatAt;
    if (receivedAt === undefined) return;
    slot.pendingHeartbeatAt = undefined;
    const { address, capacity } = contextOf(slot);
    this.deliver(slot, {
      type: 'HEARTBEAT',
      receivedAt,
      address,
      capacity,
      suspicion: this.suspicionOf(slot),
    });
  }

  /**
   * Freezes every worker while the monitor cannot see heartbeats (its NATS connection is
   * down): no timer may fire, because silence it cannot hear proves nothing about a worker.
   */
  suspend(): void {
    if (this.stopped || this.suspendedWorkers) return;
    const frozen: KnownWorker[] = [];
    for (const slot of this.workers.values()) {
      const known = knownWorkerOf(slot);
      // A coalesced heartbeat is part of what the worker last told us. Handed to the actor it
      // would change its deadlines and nothing else (it brings no news), and they are dropped here.
      const lastHeartbeatAt = slot.pendingHeartbeatAt ?? known.lastHeartbeatAt;
      frozen.push({ ...known, lastHeartbeatAt: toWallTime(this.clock, lastHeartbeatAt) });
      if (slot.stretchStartedAt !== undefined)
        this.suspendedStretchStarts.set(known.workerId, slot.stretchStartedAt);
      // The window survives; the silence across the outage will not be a sample (lastArrivalAt is gone).
      if (slot.window) this.suspendedWindows.set(known.workerId, slot.window);
    }
    // The actors cannot be stopped one by one (see the class comment): without their timers,
    // and dropped from the map, they are inert.
    this.timers.clear();
    this.dropAllWorkers();
    this.suspendedWorkers = frozen;
  }

  /** Thaws the workers frozen by `suspend()`, each active or suspect one with a full timeout from `resumedAt` (the fleet's clock). */
  resume(resumedAt: number = this.timers.now()): void {
    const frozen = this.suspendedWorkers;
    if (this.stopped || !frozen) return;
    this.suspendedWorkers = undefined;
    this.restore(frozen, resumedAt);
    this.suspendedWindows.clear();
    this.suspendedStretchStarts.clear();
  }

  get isSuspended(): boolean {
    return this.suspendedWorkers !== undefined;
  }

  statusOf(workerId: string): WorkerStatus | undefined {
    const slot = this.workers.get(workerId);
    if (slot) return slot.status;
    if (this.removedSeqs.has(workerId)) return 'removed';
    return this.suspendedWorkers?.find((worker) => worker.workerId === workerId)?.status;
  }

  /** When this fleet last heard an active or suspect worker's heartbeat (its clock), if it did. */
  lastHeardAt(workerId: string): number | undefined {
    const slot = this.workers.get(workerId);
    if (!slot || (slot.status !== 'active' && slot.status !== 'suspect')) return undefined;
    return slot.lastArrivalAt;
  }

  /** Workers tracked (removed ones are not). */
  get size(): number {
    return this.suspendedWorkers?.length ?? this.workers.size;
  }

  countByStatus(): Record<WorkerStatus, number> {
    if (!this.suspendedWorkers) return { ...this.counts, removed: this.removedSeqs.size };
    const counts: Record<WorkerStatus, number> = {
      active: 0,
      suspect: 0,
      inactive: 0,
      left: 0,
      removed: this.removedSeqs.size,
    };
    for (const worker of this.suspendedWorkers) counts[worker.status]++;
    return counts;
  }

  /** Whether disruption mode is on: no worker is declared inactive while it lasts. */
  get inDisruption(): boolean {
    return this.guard.active;
  }

  // --- operator controls (`cloudai workers cordon|uncordon|remove`, `cloudai disruption end`) ---

  /** No new tasks for the worker (WorkerCordoned); its tasks stay. Refused for unknown or removed ids. */
  cordon(workerId: string): OperatorOutcome {
    return this.setCordoned(workerId, true);
  }

  /** Schedulable again, as far as the operator is concerned (WorkerUncordoned). */
  uncordon(workerId: string): OperatorOutcome {
    return this.setCordoned(workerId, false);
  }

  private setCordoned(workerId: string, cordoned: boolean): OperatorOutcome {
    const found = this.operable(workerId);
    if (!found.ok) return found;
    const { slot } = found;
    if (contextOf(slot).cordoned !== cordoned) {
      this.sendToWorker(slot, { type: cordoned ? 'CORDON' : 'UNCORDON', at: this.timers.now() });
    }
    return { ok: true };
  }

  /**
   * The worker announced that it stops (WorkerLeft), having stopped `stoppedAttempts`: no timer
   * runs for it any more and its tasks go elsewhere at once. Refused for unknown or removed ids;
   * a repeated leave changes nothing.
   */
  leave(workerId: string, stoppedAttempts: readonly StoppedAttempt[]): OperatorOutcome {
    const found = this.operable(workerId);
    if (!found.ok) return found;
    const { slot } = found;
    if (slot.status === 'left') return { ok: true };
    // A heartbeat still coalesced is part of what the worker last told us.
    this.deliverPendingHeartbeat(slot);
    this.sendToWorker(slot, { type: 'LEAVE', at: this.timers.now(), stoppedAttempts });
    return { ok: true };
  }

  /**
   * Starts a drain (WorkerDrainStarted): no new tasks for the worker. Its progress and end are
   * the drain coordinator's to report (`drainProgress`, `endDrain`), as it sees the tasks move.
   */
  drain(workerId: string, deadlineMs: number, remainingTasks: number): OperatorOutcome {
    const found = this.operable(workerId);
    if (!found.ok) return found;
    const { slot } = found;
    if (contextOf(slot).draining) {
      return {
        ok: false,
        error: `worker ${workerId} is draining already: \`cloudai workers drain ${workerId} --cancel\` ends that drain first`,
      };
    }
    this.sendToWorker(slot, { type: 'DRAIN', at: this.timers.now(), deadlineMs, remainingTasks });
    return { ok: true };
  }

  /** Tasks of a draining worker ended or moved (WorkerDrainProgress). */
  drainProgress(workerId: string, remainingTasks: number): void {
    const slot = this.workers.get(workerId);
    if (slot) this.sendToWorker(slot, { type: 'DRAIN_PROGRESS', at: this.timers.now(), remainingTasks });
  }

  /** The drain is over (WorkerDrained); the worker stays cordoned. */
  endDrain(workerId: string, endedBy: DrainEndedBy, remainingTasks: number): void {
    const slot = this.workers.get(workerId);
    if (slot) this.sendToWorker(slot, { type: 'DRAIN_END', at: this.timers.now(), endedBy, remainingTasks });
  }

  /** `--cancel`: the worker is schedulable again (unless cordoned before) (WorkerDrainCancelled). */
  cancelDrain(workerId: string): OperatorOutcome {
    const found = this.operable(workerId);
    if (!found.ok) return found;
    if (!contextOf(found.slot).draining) {
      return { ok: false, error: `worker ${workerId} is not draining: there is nothing to cancel` };
    }
    this.sendToWorker(found.slot, { type: 'DRAIN_CANCEL', at: this.timers.now() });
    return { ok: true };
  }

  isDraining(workerId: string): boolean {
    const slot = this.workers.get(workerId);
    return slot !== undefined && contextOf(slot).draining;
  }

  private sendToWorker(slot: WorkerSlot, event: WorkerLivenessEvent): void {
    this.timers.runFor(slot, () => this.wake(slot).send(event));
  }

  /** Forgets an inactive or left worker (WorkerRemoved); it registers again if it heartbeats again. */
  remove(workerId: string): OperatorOutcome {
    const found = this.operable(workerId);
    if (!found.ok) return found;
    const { slot } = found;
    if (slot.status !== 'inactive' && slot.status !== 'left') {
      return {
        ok: false,
        error:
          `worker ${workerId} is ${slot.status}: only an inactive or left worker can be removed (an active one would ` +
          `register again at its next heartbeat); stop it, wait until \`cloudai workers\` shows it left or inactive, and retry`,
      };
    }
    this.sendToWorker(slot, { type: 'REMOVE', at: this.timers.now() });
    const { seq } = contextOf(slot);
    this.counts.removed--; // the removed are counted by `removedSeqs`
    this.workers.delete(workerId);
    this.removedSeqs.set(workerId, seq);
    return { ok: true };
  }

  /** Ends disruption mode (DisruptionEnded, endedBy operator): the workers it held turn inactive now. */
  endDisruption(): OperatorOutcome {
    if (this.suspendedWorkers) {
      return {
        ok: false,
        error:
          'the control plane has lost its NATS connection and is not judging liveness now: retry once it is back',
      };
    }
    if (!this.guard.active) {
      return { ok: false, error: 'the fleet is not in disruption mode: there is nothing to end' };
    }
    this.guard.end('operator', this.timers.now());
    return { ok: true };
  }

  private operable(workerId: string): { ok: true; slot: WorkerSlot } | { ok: false; error: string } {
    if (this.suspendedWorkers) {
      return {
        ok: false,
        error: 'the control plane has lost its NATS connection; retry once it is back',
      };
    }
    const slot = this.workers.get(workerId);
    if (slot) return { ok: true, slot };
    // `cloudai workers` hides removed workers: name the flag that shows them.
    const [why, list] = this.removedSeqs.has(workerId)
      ? ['was removed', 'cloudai workers --all']
      : ['is not known', 'cloudai workers'];
    return { ok: false, error: `worker ${workerId} ${why}: list the workers with \`${list}\`` };
  }

  /** Cancels every pending timer and drops every actor; later heartbeats are ignored. */
  stop(): void {
    this.stopped = true;
    this.timers.clear();
    this.dropAllWorkers();
    this.suspendedWorkers = undefined;
    this.suspendedWindows.clear();
    this.suspendedStretchStarts.clear();
    this.root.stop();
  }

  private dropAllWorkers(): void {
    this.workers.clear();
    // The actor system holds every actor it ever started (only a stopped one leaves it).
    this.root.stop();
    this.root = this.newRoot();
    this.counts.active = 0;
    this.counts.suspect = 0;
    this.counts.inactive = 0;
    this.counts.left = 0;
    this.guard.forgetHeld();
  }
}

/** The status an event leaves its worker in; undefined when it does not change it. */
function statusAfter(event: WorkerStreamEvent): WorkerStatus | undefined {
  switch (event.type) {
    case 'WorkerRegistered':
    case 'WorkerActivated':
    case 'WorkerRecovered':
      return 'active';
    case 'WorkerSuspected':
      return 'suspect';
    case 'WorkerInactive':
      return 'inactive';
    case 'WorkerLeft':
      return 'left';
    case 'WorkerRemoved':
      return 'removed';
    default:
      return undefined;
  }
}

/** What the worker's actor holds, or would hold had it been created. */
function contextOf(slot: WorkerSlot): WorkerLivenessContext {
  return slot.actor ? slot.actor.getSnapshot().context : (slot.dormant as DormantWorker).context;
}

function dormantStateOf(status: WorkerStatus): DormantState {
  if (status === 'removed') throw new Error('a removed worker has no actor');
  return status;
}

/** The type of the delayed event the state's timer delivers (one `after` per state here). */
function delayedEventOf(machine: WorkerLivenessMachine, state: 'active' | 'suspect'): string {
  const [delayed] = machine.states[state]?.after ?? [];
  if (!delayed) throw new Error(`the liveness machine's ${state} state arms no timer`);
  return delayed.eventType;
}

function knownWorkerOf(slot: WorkerSlot): KnownWorker {
  const { workerId, seq, lastHeartbeatAt, address, capacity, flapping, cordoned, draining } = contextOf(slot);
  return {
    workerId,
    status: slot.status,
    seq,
    lastHeartbeatAt,
    address,
    capacity,
    flapping,
    cordoned,
    draining,
  };
}
