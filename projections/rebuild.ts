import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { WORKER_EVENTS_STREAM } from '../streams/subjects.js';
import type { ReadModel } from './read-model.js';
import { applyWorkerEventBatch, type StreamMessage } from './worker-projector.js';

export interface RebuildProgress {
  applied: number;
  invalid: number;
  streamSeq: number;
  lastSeq: number;
}

export interface RebuildOptions {
  nc: NatsConnection;
  readModel: ReadModel;
  onProgress?: (progress: RebuildProgress) => void;
  batchSize?: number;
}

/**
 * Rebuilds the worker documents from the whole of WORKER_EVENTS: clears the read model,
 * then folds every event up to the stream's last sequence at the start, in batches.
 */
export async function rebuildWorkerReadModel(options: RebuildOptions): Promise<RebuildProgress> {
  const { nc, readModel } = options;
  const batchSize = options.batchSize ?? 5_000;
  const jsm = await jetstreamManager(nc);
  const { state } = await jsm.streams.info(WORKER_EVENTS_STREAM).catch((error: Error) => {
    throw new Error(
      `cannot read stream ${WORKER_EVENTS_STREAM} (${error.message}): it is created by \`cloudai serve\`; start it once first`,
    );
  });
  readModel.clear();
  const progress: RebuildProgress = { applied: 0, invalid: 0, streamSeq: 0, lastSeq: state.last_seq };
  if (state.messages === 0) {
    // Nothing to fold, but the position must still say how far the (empty or purged) stream goes.
    await readModel.write(() => readModel.setPosition(WORKER_EVENTS_STREAM, state.last_seq));
    options.onProgress?.(progress);
    return progress;
  }
  const consumer = await jetstream(nc).consumers.get(WORKER_EVENTS_STREAM);
  const messages = await consumer.consume({ max_messages: batchSize });
  let batch: StreamMessage[] = [];
  const flush = async () => {
    const result = await applyWorkerEventBatch(readModel, batch);
    progress.applied += result.applied;
    progress.invalid += result.invalid;
    progress.streamSeq = batch.at(-1)?.seq ?? progress.streamSeq;
    batch = [];
    options.onProgress?.({ ...progress });
  };
  for await (const msg of messages) {
    batch.push({ seq: msg.seq, data: msg.data });
    const done = msg.seq >= state.last_seq;
    if (batch.length >= batchSize || done || msg.info.pending === 0) await flush();
    if (done) break;
  }
  await messages.close();
  return progress;
}
