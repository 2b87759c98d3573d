import type { JsMsg } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Usage } from '../streams/contracts/heartbeat.js';
import { WORKER_EVENTS_STREAM } from '../streams/contracts/subjects.js';
import {
  decodeWorkerEvent,
  isDisruptionEvent,
  type WorkerStreamEvent,
} from '../streams/contracts/worker-events.js';
import { StreamFollower } from '../streams/nats/stream-follower.js';
import { type Logger, RateLimitedLog } from '../streams/util/logger.js';
import { evolveDisruption } from './disruption-document.js';
import { HeartbeatSampleBuffer, type WorkerHeartbeatSample } from './heartbeat-samples.js';
import { PositionWaiters } from './position-waiters.js';
import type { ReadModel } from './read-model.js';
import { forEachNewEvent, type StreamMessage } from './stream-batch.js';
import { applyHeartbeatSample, evolveWorker, type WorkerDocument } from './worker-document.js';

export interface WorkerProjectorOptions {
  nc: NatsConnection;
  readModel: ReadModel;
  logger: Logger;
}

/** Longest a heartbeat's "last seen" and usage wait before they reach the read model (at most 1 s). */
const HEARTBEAT_FLUSH_MS = 250;

/**
 * Applies WORKER_EVENTS to the read model, batch by batch, storing the stream position in
 * the same transaction as the documents, so each event is applied exactly once across
 * crashes. It also folds the latest heartbeat sample per worker (not events: they only
 * refresh "last seen" and usage) into the same batches.
 */
export class WorkerProjector {
  private readonly samples = new HeartbeatSampleBuffer();
  private readonly sampleTimer: NodeJS.Timeout;
  private readonly invalidLog: RateLimitedLog;
  private readonly positionWaiters = new PositionWaiters();
  private readonly appliedListeners = new Set<(batch: WorkerBatchResult) => void>();

  readonly stats = { applied: 0, duplicates: 0, invalid: 0 };

  private constructor(
    private readonly options: WorkerProjectorOptions,
    private readonly follower: Promise<StreamFollower>,
  ) {
    this.invalidLog = new RateLimitedLog(options.logger);
    this.sampleTimer = setInterval(() => {
      if (this.samples.waiting > 0) void this.follower.then((follower) => follower.requestFlush());
    }, HEARTBEAT_FLUSH_MS);
  }

  static async start(options: WorkerProjectorOptions): Promise<WorkerProjector> {
    let projector: WorkerProjector | undefined;
    const follower = StreamFollower.start({
      nc: options.nc,
      stream: WORKER_EVENTS_STREAM,
      identity: options.readModel.path,
      startAfter: options.readModel.position(WORKER_EVENTS_STREAM),
      logger: options.logger,
      applyBatch: (messages) => (projector as WorkerProjector).applyBatch(messages),
    });
    projector = new WorkerProjector(options, follower);
    try {
      await follower;
    } catch (error) {
      clearInterval(projector.sampleTimer);
      throw error;
    }
    return projector;
  }

  /** Remembers the newest heartbeat of a worker; it is written with the next batch. */
  recordHeartbeat(workerId: string, receivedAt: number, usage: Usage): void {
    this.samples.record(workerId, receivedAt, usage);
  }

  get position(): number {
    return this.options.readModel.position(WORKER_EVENTS_STREAM);
  }

  /** Resolves once the read model has applied the stream up to `streamSeq`. */
  waitForPosition(streamSeq: number): Promise<void> {
    return this.positionWaiters.wait(streamSeq, this.position);
  }

  /**
   * Calls `listener` after each batch is committed, with the events it applied and the workers
   * whose documents it changed (a reader in this process sees them from then on). Returns the
   * unsubscribe.
   */
  onApplied(listener: (batch: WorkerBatchResult) => void): () => void {
    this.appliedListeners.add(listener);
    return () => this.appliedListeners.delete(listener);
  }

  async close(): Promise<void> {
    clearInterval(this.sampleTimer);
    await (await this.follower).close();
  }

  private async applyBatch(messages: JsMsg[]): Promise<void> {
    const samples = this.samples.take();
    const stats = await applyWorkerEventBatch(this.options.readModel, messages, {
      samples,
      onInvalid: (streamSeq, detail) =>
        this.invalidLog.warn(
          'invalid',
          `skipped invalid event at ${WORKER_EVENTS_STREAM} seq ${streamSeq}: ${detail}`,
        ),
    });
    // A heartbeat of a worker whose registration is not applied yet waits for the next batch.
    for (const workerId of stats.unappliedSamples) this.samples.requeue(workerId);
    this.stats.applied += stats.applied;
    this.stats.duplicates += stats.duplicates;
    this.stats.invalid += stats.invalid;
    this.positionWaiters.reached(this.position);
    for (const listener of this.appliedListeners) listener(stats);
  }
}

export interface WorkerBatchResult {
  applied: number;
  duplicates: number;
  invalid: number;
  /** Workers whose sample could not be applied: they have no document yet. */
  unappliedSamples: string[];
  /** The events applied, in stream order, disruption events included. */
  events: WorkerStreamEvent[];
  /** The documents the batch wrote (changed by an event or a heartbeat sample), as written. */
  changedWorkers: WorkerDocument[];
}

/**
 * Folds a batch of WORKER_EVENTS messages (and optional heartbeat samples) into the read
 * model in one transaction, together with the new stream position. Messages at or below
 * the stored position are skipped, which makes redelivery after a crash harmless. Shared by
 * the live projector and `cloudai rebuild`.
 */
export async function applyWorkerEventBatch(
  readModel: ReadModel,
  messages: readonly StreamMessage[],
  options: {
    samples?: Iterable<WorkerHeartbeatSample>;
    onInvalid?: (streamSeq: number, detail: string) => void;
  } = {},
): Promise<WorkerBatchResult> {
  return readModel.write(() => {
    const result: WorkerBatchResult = {
      applied: 0,
      duplicates: 0,
      invalid: 0,
      unappliedSamples: [],
      events: [],
      changedWorkers: [],
    };
    const touched = new Map<string, WorkerDocument>();
    // Each document as stored before this batch, read once: with a sample per heartbeat, every
    // extra read of a document cost a tenth of the projector's time.
    const stored = new Map<string, WorkerDocument | undefined>();
    const storedDocument = (workerId: string) => {
      if (!stored.has(workerId)) stored.set(workerId, readModel.getWorker(workerId, { uptime: false }));
      return stored.get(workerId);
    };
    const current = (workerId: string) => touched.get(workerId) ?? storedDocument(workerId);
    // A heartbeat sample never changes the uptime record (stored apart): only an event's fold reads it.
    const withUptime = new Set<string>();
    const beforeEvent = (workerId: string) => {
      const document = current(workerId);
      if (!document || withUptime.has(workerId)) return document;
      withUptime.add(workerId);
      const uptime = readModel.getUptime(workerId);
      return uptime ? { ...document, uptime } : document;
    };
    const storedDisruption = readModel.disruption();
    let disruption = storedDisruption;
    const position = forEachNewEvent(
      messages,
      readModel.position(WORKER_EVENTS_STREAM),
      decodeWorkerEvent,
      result,
      options.onInvalid,
      (event) => {
        if (isDisruptionEvent(event)) disruption = evolveDisruption(disruption, event);
        else touched.set(event.workerId, evolveWorker(beforeEvent(event.workerId), event));
        result.events.push(event);
        result.applied++;
      },
    );
    if (disruption !== storedDisruption) readModel.putDisruption(disruption);
    for (const sample of options.samples ?? []) {
      const document = current(sample.workerId);
      if (document) touched.set(sample.workerId, applyHeartbeatSample(document, sample));
      else result.unappliedSamples.push(sample.workerId);
    }
    for (const document of touched.values()) {
      // A document stored before this batch carries its allocation already. A new one takes what
      // the task projection recorded: two streams, so a worker's tasks may come before its first event.
      const written =
        storedDocument(document.workerId) !== undefined
          ? document
          : { ...document, ...readModel.allocationOf(document.workerId) };
      readModel.putWorker(written);
      result.changedWorkers.push(written);
    }
    readModel.setPosition(WORKER_EVENTS_STREAM, position);
    readModel.countApplied(WORKER_EVENTS_STREAM, result.applied);
    return result;
  });
}
