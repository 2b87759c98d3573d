import type { JetStreamManager } from '@nats-io/jetstream';
import type { Fleet } from '../actors/fleet.js';
import type { KnownWorker } from '../actors/liveness-machine.js';
import type { ReadModel } from '../projections/read-model.js';
import type { WorkerDocument } from '../projections/worker-document.js';
import type { WorkerProjector } from '../projections/worker-projector.js';
import { partitionOf } from '../streams/contracts/partitions.js';
import { WORKER_EVENTS_STREAM } from '../streams/contracts/subjects.js';
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
 * numbering continues where it stopped), then its workers are restored, each active or suspect
 * one with a full timeout from now, and only then are its heartbeats taken. Partitions taken up
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
    fleet.restore(workers.map(this.options.toKnownWorker));
    this.options.drains().restore(workers);
    for (const partition of partitions) intake.listen(partition);
  }
}
