import { jetstream, jetstreamManager, type StreamState } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { TASKS_STREAM, WORKER_EVENTS_STREAM } from '../streams/contracts/subjects.js';
import { UserFacingError } from '../streams/util/user-error.js';
import type { ReadModel } from './read-model.js';
import type { StreamMessage } from './stream-batch.js';
import { applyTaskEventBatch } from './task-projector.js';
import { applyWorkerEventBatch } from './worker-projector.js';

export interface RebuildProgress {
  stream: string;
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
 * Rebuilds the read model from the streams: clears it, then folds every event of
 * WORKER_EVENTS, then of TASKS (which needs the workers, to record what they hold), each up
 * to the stream's last sequence at the start, in batches.
 */
export async function rebuildReadModel(options: RebuildOptions): Promise<RebuildProgress[]> {
  const { readModel } = options;
  // Both streams must be readable before anything is cleared: a failed rebuild keeps the old model.
  const workerStream = await streamState(options.nc, WORKER_EVENTS_STREAM);
  const taskStream = await streamState(options.nc, TASKS_STREAM);
  readModel.clear();
  const workers = await refold(options, WORKER_EVENTS_STREAM, workerStream, (batch) =>
    applyWorkerEventBatch(readModel, batch),
  );
  const tasks = await refold(options, TASKS_STREAM, taskStream, (batch) =>
    applyTaskEventBatch(readModel, batch),
  );
  return [workers, tasks];
}

async function streamState(nc: NatsConnection, stream: string): Promise<StreamState> {
  const jsm = await jetstreamManager(nc);
  const info = await jsm.streams.info(stream).catch((error: Error) => {
    throw new UserFacingError(
      `cannot read stream ${stream} (${error.message}): it is created by \`cloudai serve\`; start it once first`,
    );
  });
  return info.state;
}

async function refold(
  options: RebuildOptions,
  stream: string,
  state: StreamState,
  applyBatch: (batch: StreamMessage[]) => Promise<{ applied: number; invalid: number }>,
): Promise<RebuildProgress> {
  const { nc, readModel } = options;
  const batchSize = options.batchSize ?? 5_000;
  const progress: RebuildProgress = { stream, applied: 0, invalid: 0, streamSeq: 0, lastSeq: state.last_seq };
  if (state.messages === 0) {
    // Nothing to fold, but the position must still say how far the (empty or purged) stream goes.
    await readModel.write(() => readModel.setPosition(stream, state.last_seq));
    options.onProgress?.(progress);
    return progress;
  }
  const consumer = await jetstream(nc).consumers.get(stream);
  const messages = await consumer.consume({ max_messages: batchSize });
  let batch: StreamMessage[] = [];
  const flush = async () => {
    const result = await applyBatch(batch);
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
