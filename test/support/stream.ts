import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { WORKER_EVENTS_STREAM } from '../../streams/subjects.js';
import { decodeWorkerEvent, type WorkerEvent } from '../../streams/worker-events.js';

export interface StoredEvent {
  streamSeq: number;
  event: WorkerEvent;
}

/** Every event of WORKER_EVENTS, in stream order, read with an ordered consumer. */
export async function readWorkerEvents(nc: NatsConnection): Promise<StoredEvent[]> {
  const jsm = await jetstreamManager(nc);
  const lastSeq = (await jsm.streams.info(WORKER_EVENTS_STREAM)).state.last_seq;
  const stored: StoredEvent[] = [];
  if (lastSeq === 0) return stored;
  const consumer = await jetstream(nc).consumers.get(WORKER_EVENTS_STREAM);
  const messages = await consumer.consume();
  for await (const msg of messages) {
    const decoded = decodeWorkerEvent(msg.data);
    if (!decoded.ok) throw new Error(`invalid event at seq ${msg.seq}: ${decoded.detail}`);
    stored.push({ streamSeq: msg.seq, event: decoded.event });
    if (msg.seq >= lastSeq) break;
  }
  await messages.close();
  return stored;
}
