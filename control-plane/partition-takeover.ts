import { setImmediate as yieldToIo } from 'node:timers/promises';
import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import type { Fleet } from '../actors/fleet.js';
import type { KnownWorker } from '../actors/liveness-machine.js';
import type { ReadModel } from '../projections/read-model.js';
import type { WorkerDocument } from '../projections/worker-document.js';
import type { WorkerProjector } from '../projections/worker-projector.js';
import type { Heartbeat } from '../streams/contracts/heartbeat.js';
import { partitionOf } from '../streams/contracts/partitions.js';
import {
  partitionTakenMessageId,
  partitionTakenSubject,
  WORKER_EVENTS_STREAM,
} from '../streams/contracts/subjects.js';
import { encodePartitionTaken } from '../streams/contracts/worker-events.js';
import { waitForStreamEnd } from '../streams/nats/stream-end.js';
import { MONOTONIC_CLOCK, toWallTime } from '../streams/util/clock.js';
import type { Logger } from '../streams/util/logger.js';
import type { DrainCoordinator } from './drain-coordinator.js';
import type { HeartbeatIntake } from './heartbeat-intake.js';

export interface PartitionTakeoverOptions {
  jsm: JetStreamManager;
  /** Stores the PartitionTaken markers. */
  js: JetStreamClient;
  controlPlaneId: string;
  readModel: ReadModel;
  projector: WorkerProjector;
  fleet: Fleet;
  intake: HeartbeatIntake;
  drains: () => DrainCoordinator;
  toKnownWorker: (document: WorkerDocument) => KnownWorker;
  logger: Logger;
  /** Workers restored between two looks at the socket: lease renewals and heartbeats go on meanwhile. */
  restoreSliceSize?: number;
}

interface HeldHeartbeat {
  heartbeat: Heartbeat;
  receivedAt: number;
}

const DEFAULT_RESTORE_SLICE_SIZE = 2_000;

/**
 * Takes up and gives up partitions. Taking one up: the read model first catches up with every
 * event already stored (the previous holder's last ones included, so each worker's event
 * numbering continues where it stopped); from then on the partition is ours and its heartbeats
 * are taken. Its workers are restored a slice at a time; a heartbeat of one not restored yet is
 * held and handed over with it. Each worker is judged from the last heartbeat heard: held, or
 * noted while shadowing the partition; one not heard at all gets a full timeout from its
 * restoration. Partitions taken up together share one catch-up and one scan of the read model.
 */
export class PartitionTakeover {
  private batch: { partitions: Map<number, number>; caughtUp: Promise<void> } | undefined;
  /** Partitions whose workers are being restored, and those restored so far. */
  private readonly restoring = new Set<number>();
  private readonly restoredSoFar = new Set<string>();
  private readonly held = new Map<string, HeldHeartbeat>();
  private readonly restorations = new Set<Promise<void>>();

  constructor(private readonly options: PartitionTakeoverOptions) {}

  /** Resolves once the partition is caught up and ours to judge; its workers follow in slices. */
  take(partition: number, epoch: number): Promise<void> {
    if (!this.batch) {
      const partitions = new Map<number, number>();
      const caughtUp = yieldToIo()
        .then(() => {
          this.batch = undefined;
          return this.catchUp(partitions);
        })
        .then((workers) => {
          const taken = new Set(partitions.keys());
          const restoration = this.restore(taken, workers).catch((error: Error) =>
            this.options.logger.error(`restoring partitions ${[...taken]} failed: ${error.stack ?? error}`),
          );
          this.restorations.add(restoration);
          void restoration.finally(() => this.restorations.delete(restoration));
        });
      this.batch = { partitions, caughtUp };
    }
    this.batch.partitions.set(partition, epoch);
    return this.batch.caughtUp;
  }

  /** Resolves once every restoration under way is done. */
  async settled(): Promise<void> {
    while (this.restorations.size > 0) await Promise.all(this.restorations);
  }

  /**
   * A heartbeat of a worker whose partition is being taken up and who is not restored yet: held
   * (true) until it is. The fleet would take it for a new worker.
   */
  intercept(heartbeat: Heartbeat, receivedAt: number): boolean {
    if (this.restoring.size === 0) return false;
    const { workerId } = heartbeat;
    if (!this.restoring.has(partitionOf(workerId)) || this.restoredSoFar.has(workerId)) return false;
    this.held.set(workerId, { heartbeat, receivedAt });
    return true;
  }

  /**
   * Notes the heartbeats of exactly these partitions, except those listened to (see
   * HeartbeatIntake.shadow). A partition being taken stays shadowed until its workers are restored.
   */
  shadowOnly(partitions: readonly number[]): void {
    const { intake } = this.options;
    const wanted = new Set(partitions);
    for (const partition of intake.shadowedPartitions)
      if (!wanted.has(partition)) intake.stopShadowing(partition);
    for (const partition of wanted) intake.shadow(partition);
  }

  /**
   * Stops judging a partition's workers, without a word: their next holder judges them.
   * `handedOn`: given up in good order, so what was heard here until now is true; a lease that
   * expired (a pause, a cut) says this process may not have heard what was sent meanwhile,
   * here or in any shadow, so what they heard is forgotten (unheard workers get a fresh timeout).
   */
  give(partition: number, { handedOn }: { handedOn: boolean }): void {
    const { fleet, intake } = this.options;
    intake.stopListening(partition);
    this.restoring.delete(partition);
    if (!handedOn) intake.forgetShadowedHeartbeats();
    const workerIds = [...fleet.workerIds()].filter((workerId) => partitionOf(workerId) === partition);
    // Shadowed from now on (until the lease keeper says otherwise): should it come back, a
    // worker that died meanwhile is judged from what was heard here, not afresh.
    const heardBefore = new Map<string, number>();
    for (const workerId of handedOn ? workerIds : []) {
      const heardAt = fleet.lastHeardAt(workerId);
      if (heardAt !== undefined) heardBefore.set(workerId, heardAt);
    }
    intake.shadow(partition, heardBefore);
    fleet.forget(workerIds);
    this.options.drains().stopFollowing(workerIds);
    this.forgetRestorationOf(partition);
  }

  /**
   * Stores a PartitionTaken marker per partition, then waits until the read model has applied
   * everything up to the stream's end: the previous holder's last events, and the markers, after
   * which any late event of the previous holder is skipped by every reader.
   */
  private async catchUp(partitions: ReadonlyMap<number, number>): Promise<WorkerDocument[]> {
    const { jsm, js, readModel, projector, intake, controlPlaneId } = this.options;
    for (const partition of partitions.keys()) this.restoring.add(partition);
    await Promise.all(
      [...partitions].map(([partition, epoch]) =>
        js.publish(
          partitionTakenSubject(partition),
          encodePartitionTaken({
            type: 'PartitionTaken',
            partition,
            epoch,
            controlPlane: controlPlaneId,
            at: Date.now(),
          }),
          { msgID: partitionTakenMessageId(partition, epoch) },
        ),
      ),
    );
    await waitForStreamEnd(jsm, WORKER_EVENTS_STREAM, [(seq) => projector.waitForPosition(seq)]);
    // Given up meanwhile (`give`): not listened to.
    for (const partition of partitions.keys()) if (this.restoring.has(partition)) intake.listen(partition);
    return readModel
      .snapshot((view) => view.listWorkers({ uptime: false }))
      .filter((worker) => partitions.has(partitionOf(worker.workerId)));
  }

  private async restore(partitions: ReadonlySet<number>, workers: readonly WorkerDocument[]): Promise<void> {
    const { fleet, intake } = this.options;
    const sliceSize = this.options.restoreSliceSize ?? DEFAULT_RESTORE_SLICE_SIZE;
    for (let start = 0; start < workers.length; start += sliceSize) {
      const slice = workers
        .slice(start, start + sliceSize)
        .filter((worker) => this.restoring.has(partitionOf(worker.workerId)));
      for (const worker of slice) this.restoreOne(worker);
      this.options.drains().restore(slice);
      await yieldToIo();
    }
    // Workers heard during the takeover that the read model did not know: new ones, registered now.
    for (const [workerId, { heartbeat, receivedAt }] of this.held) {
      if (partitions.has(partitionOf(workerId)) && this.restoring.has(partitionOf(workerId))) {
        this.held.delete(workerId);
        fleet.receiveHeartbeat(heartbeat, receivedAt);
      }
    }
    for (const partition of partitions) {
      if (!this.restoring.has(partition)) continue;
      this.restoring.delete(partition);
      this.forgetRestorationOf(partition);
      intake.stopShadowing(partition);
    }
  }

  private restoreOne(worker: WorkerDocument): void {
    const { fleet, intake } = this.options;
    const known = this.options.toKnownWorker(worker);
    const held = this.held.get(worker.workerId);
    this.held.delete(worker.workerId);
    this.restoredSoFar.add(worker.workerId);
    const heardAt = held?.receivedAt ?? intake.lastHeardInShadowOf(worker.workerId);
    if (heardAt === undefined) fleet.restore([known]);
    else fleet.restore([{ ...known, lastHeartbeatAt: toWallTime(MONOTONIC_CLOCK, heardAt) }], heardAt);
    // What the held heartbeat says beyond being alive (a new capacity, a comeback) is news too.
    if (held) fleet.receiveHeartbeat(held.heartbeat, held.receivedAt);
  }

  private forgetRestorationOf(partition: number): void {
    for (const workerId of this.restoredSoFar)
      if (partitionOf(workerId) === partition) this.restoredSoFar.delete(workerId);
    for (const workerId of this.held.keys())
      if (partitionOf(workerId) === partition) this.held.delete(workerId);
  }
}
