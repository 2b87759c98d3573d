import type { JetStreamManager } from '@nats-io/jetstream';
import type { Fleet } from '../actors/fleet.js';
import type { KnownWorker } from '../actors/liveness-machine.js';
import type { ReadModel } from '../projections/read-model.js';
import type { WorkerDocument } from '../projections/worker-document.js';
import type { WorkerProjector } from '../projections/worker-projector.js';
import { partitionOf } from '../streams/contracts/partitions.js';
import { WORKER_EVENTS_STREAM } from '../streams/contracts/subjects.js';
import { MONOTONIC_CLOCK, toWallTime } from '../streams/util/clock.js';
import type { DrainCoordinator } from './drain-coordinator.js';
import type { HeartbeatIntake } from './heartbeat-intake.js';

export interface PartitionTakeoverOptions {
  jsm: JetStreamManager;
  readModel: ReadModel;
  projector: WorkerProjector;
  fleet: Fleet;
  intake: HeartbeatIntake;
  drains: () => DrainCoordinator;
  toKnownWorker: (document: WorkerDocument) => KnownWorker;
}

/**
 * Takes up and gives up partitions. Taking one up: the read model first catches up with every
 * event already stored (the previous holder's last ones included, so each worker's event
 * numbering continues where it stopped), then its workers are restored, and only then are its
 * heartbeats taken. A worker heard while the partition was shadowed is judged from that last
 * heartbeat; any other active or suspect one gets a full timeout from now. Partitions taken up
 * together (at start, or after a failover) share one catch-up and one scan of the read model.
 */
export class PartitionTakeover {
  private batch: { partitions: Set<number>; done: Promise<void> } | undefined;

  constructor(private readonly options: PartitionTakeoverOptions) {}

  take(partition: number): Promise<void> {
    if (!this.batch) {
      const partitions = new Set<number>();
      const done = new Promise<void>((resolve) => setImmediate(resolve)).then(() => {
        this.batch = undefined;
        return this.restore(partitions);
      });
      this.batch = { partitions, done };
    }
    this.batch.partitions.add(partition);
    return this.batch.done;
  }

  /** Watches exactly these partitions for another control plane (see HeartbeatIntake.shadow). */
  shadowOnly(partitions: readonly number[]): void {
    const { intake } = this.options;
    const wanted = new Set(partitions);
    for (const partition of intake.shadowedPartitions)
      if (!wanted.has(partition)) intake.stopShadowing(partition);
    for (const partition of wanted) if (!intake.partitions.includes(partition)) intake.shadow(partition);
  }

  /** Stops judging a partition's workers, without a word: their next holder judges them. */
  give(partition: number): void {
    const { fleet, intake } = this.options;
    intake.stopListening(partition);
    const workerIds = [...fleet.workerIds()].filter((workerId) => partitionOf(workerId) === partition);
    fleet.forget(workerIds);
    this.options.drains().stopFollowing(workerIds);
  }

  private async restore(partitions: ReadonlySet<number>): Promise<void> {
    const { jsm, readModel, projector, fleet, intake } = this.options;
    const { state } = await jsm.streams.info(WORKER_EVENTS_STREAM);
    await projector.waitForPosition(state.last_seq);
    const workers = readModel
      .snapshot((view) => view.listWorkers({ uptime: false }))
      .filter((worker) => partitions.has(partitionOf(worker.workerId)));
    // Workers heard while shadowing are judged from their last heartbeat, as their previous
    // holder would have; the others get a full timeout from now (silence we did not hear proves nothing).
    const unheard: KnownWorker[] = [];
    for (const worker of workers) {
      const known = this.options.toKnownWorker(worker);
      const heardAt = intake.lastHeardInShadowOf(worker.workerId);
      if (heardAt === undefined) unheard.push(known);
      else fleet.restore([{ ...known, lastHeartbeatAt: toWallTime(MONOTONIC_CLOCK, heardAt) }], heardAt);
    }
    fleet.restore(unheard);
    this.options.drains().restore(workers);
    for (const partition of partitions) {
      intake.listen(partition);
      intake.stopShadowing(partition);
    }
  }
}
