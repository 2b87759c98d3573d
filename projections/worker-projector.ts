import type { Usage } from '../streams/contracts/heartbeat.js';
import { WORKER_EVENTS_STREAM } from '../streams/contracts/subjects.js';
import {
  decodeWorkerStreamEntry,
  isDisruptionEvent,
  type WorkerStreamEntry,
  type WorkerStreamEvent,
} from '../streams/contracts/worker-events.js';
import { evolveDisruption, evolveDisruptionOnTakeover } from './disruption-document.js';
import { HeartbeatSampleBuffer, type WorkerHeartbeatSample } from './heartbeat-samples.js';
import {
  type Projection,
  type ProjectionStats,
  type ProjectorOptions,
  ProjectorRunner,
} from './projector-runner.js';
import type { ReadModel } from './read-model.js';
import { forEachNewEvent, type InvalidEventHandler, type StreamMessage } from './stream-batch.js';
import { applyHeartbeatSample, evolveWorker, type WorkerDocument } from './worker-document.js';
import { WriterFence } from './writer-fence.js';

/** Longest a heartbeat's "last seen" and usage wait before they reach the read model (at most 1 s). */
const HEARTBEAT_FLUSH_MS = 250;
/**
 * Most heartbeat samples one transaction writes; more waiting are written by the batches that
 * follow at once. A whole fleet's samples in one transaction held the event loop for seconds.
 * Events come first: a batch writes that many documents less the events it applies, and at
 * least MIN_SAMPLES_PER_BATCH, so that a registration burst is not slowed by rewriting "last
 * seen" (a worker's sample that waits is overwritten by its next heartbeat, not written twice).
 */
const MAX_SAMPLES_PER_BATCH = 2_000;
const MIN_SAMPLES_PER_BATCH = 200;

/**
 * WORKER_EVENTS folded into the worker documents, together with the latest heartbeat sample
 * per worker: samples are not events, they only refresh "last seen" and usage, so they ride
 * along with the next batch.
 */
export class WorkerProjection implements Projection<ProjectionStats> {
  readonly stream = WORKER_EVENTS_STREAM;
  readonly waitingInput = {
    flushEveryMs: HEARTBEAT_FLUSH_MS,
    isWaiting: () => this.samples.waiting > 0,
    isBacklogged: () => this.samples.waiting >= MAX_SAMPLES_PER_BATCH,
  };
  private readonly samples = new HeartbeatSampleBuffer();

  /** Remembers the newest heartbeat of a worker; it is written with the next batch. */
  recordHeartbeat(workerId: string, receivedAt: number, usage: Usage): void {
    this.samples.record(workerId, receivedAt, usage);
  }

  emptyStats(): ProjectionStats {
    return { applied: 0, duplicates: 0, invalid: 0 };
  }

  async applyBatch(
    readModel: ReadModel,
    messages: readonly StreamMessage[],
    onInvalid: InvalidEventHandler,
  ): Promise<WorkerBatchResult> {
    const result = await applyWorkerEventBatch(readModel, messages, {
      samples: this.samples.take(Math.max(MIN_SAMPLES_PER_BATCH, MAX_SAMPLES_PER_BATCH - messages.length)),
      parkedSample: (workerId) => this.samples.unpark(workerId),
      onInvalid,
    });
    // A heartbeat of a worker whose registration is not applied yet waits for it (`parkedSample`).
    for (const workerId of result.unappliedSamples) this.samples.park(workerId);
    return result;
  }
}

export type WorkerProjector = ProjectorRunner<ProjectionStats, WorkerProjection>;

export function startWorkerProjector(options: ProjectorOptions): Promise<WorkerProjector> {
  return ProjectorRunner.start(options, new WorkerProjection());
}

/** An entry of WORKER_EVENTS a batch applied (an event or a PartitionTaken marker), with its stream sequence. */
export interface AppliedWorkerEntry {
  streamSeq: number;
  entry: WorkerStreamEntry;
}

/** What a reader that keeps its own fold of WORKER_EVENTS (the scheduler) needs of each batch. */
export interface AppliedWorkerBatch {
  /** Everything the batch applied, in stream order; fenced and invalid events are left out. */
  entries: AppliedWorkerEntry[];
  /** The stream position the batch reached (past any skipped event). */
  position: number;
}

/** The events a batch applied, in stream order, disruption events included (its entries but the markers). */
export function eventsOf(batch: AppliedWorkerBatch): WorkerStreamEvent[] {
  return batch.entries.flatMap(({ entry }) => (entry.type === 'PartitionTaken' ? [] : [entry]));
}

export interface WorkerBatchResult extends AppliedWorkerBatch {
  applied: number;
  duplicates: number;
  invalid: number;
  /** Events not applied: written under an older epoch than their partition's (see WriterFence). */
  fenced: number;
  /** Workers whose sample could not be applied: they have no document yet. */
  unappliedSamples: string[];
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
    /**
     * A sample that waited for its worker's first event, written with the document that event
     * creates (a registration burst would otherwise write each new document twice).
     */
    parkedSample?: (workerId: string) => WorkerHeartbeatSample | undefined;
    onInvalid?: InvalidEventHandler;
    /** Told of each event not applied because a newer holder had taken its partition. */
    onFenced?: (event: WorkerStreamEvent) => void;
  } = {},
): Promise<WorkerBatchResult> {
  return readModel.write(() => {
    const result: WorkerBatchResult = {
      applied: 0,
      duplicates: 0,
      invalid: 0,
      fenced: 0,
      unappliedSamples: [],
      changedWorkers: [],
      entries: [],
      position: 0,
    };
    const touched = new Map<string, WorkerDocument>();
    // Each document as stored before this batch, read once: with a sample per heartbeat, extra
    // reads showed in the projector's profile.
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
    const fence = new WriterFence(readModel.partitionEpochs());
    let marked = false;
    const position = forEachNewEvent(
      messages,
      readModel.position(WORKER_EVENTS_STREAM),
      decodeWorkerStreamEntry,
      {
        counts: result,
        onInvalid: options.onInvalid,
        apply: (event, streamSeq) => {
          if (event.type === 'PartitionTaken') {
            fence.take(event);
            disruption = evolveDisruptionOnTakeover(disruption, event);
            marked = true;
            result.entries.push({ streamSeq, entry: event });
            return;
          }
          if (!fence.admits(event)) {
            result.fenced++;
            options.onFenced?.(event);
            return;
          }
          if (isDisruptionEvent(event)) disruption = evolveDisruption(disruption, event);
          else touched.set(event.workerId, evolveWorker(beforeEvent(event.workerId), event));
          result.entries.push({ streamSeq, entry: event });
          result.applied++;
        },
      },
    );
    if (disruption !== storedDisruption) readModel.putDisruption(disruption);
    if (marked) readModel.putPartitionEpochs(fence.toRecord());
    for (const sample of options.samples ?? []) {
      const document = current(sample.workerId);
      if (document) touched.set(sample.workerId, applyHeartbeatSample(document, sample));
      else result.unappliedSamples.push(sample.workerId);
    }
    if (options.parkedSample) {
      for (const [workerId, document] of touched) {
        if (storedDocument(workerId) !== undefined) continue;
        const sample = options.parkedSample(workerId);
        if (sample) touched.set(workerId, applyHeartbeatSample(document, sample));
      }
    }
    // Looked up once: a registration burst brings thousands of new documents per batch.
    let holdsAnyTask: boolean | undefined;
    for (const document of touched.values()) {
      // A document stored before this batch carries its allocation already. A new one takes what
      // the task projection recorded: two streams, so a worker's tasks may come before its first event.
      holdsAnyTask ??= readModel.holdsAnyTask();
      const written =
        storedDocument(document.workerId) !== undefined || !holdsAnyTask
          ? document
          : { ...document, ...readModel.allocationOf(document.workerId) };
      readModel.putWorker(written);
      result.changedWorkers.push(written);
    }
    readModel.setPosition(WORKER_EVENTS_STREAM, position);
    result.position = position;
    readModel.countApplied(WORKER_EVENTS_STREAM, result.applied);
    return result;
  });
}
