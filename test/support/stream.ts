import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { TASKS_STREAM, WORKER_EVENTS_STREAM } from '../../streams/contracts/subjects.js';
import { decodeTaskEvent, type TaskEvent } from '../../streams/contracts/task-events.js';
import {
  decodeWorkerEvent,
  isDisruptionEvent,
  type WorkerEvent,
  type WorkerStreamEvent,
} from '../../streams/contracts/worker-events.js';
import type { DecodeResult } from '../../streams/util/json-codec.js';

export interface StoredEvent {
  streamSeq: number;
  event: WorkerEvent;
}

export interface StoredTaskEvent {
  streamSeq: number;
  event: TaskEvent;
}

/** Every message of a stream, in stream order, decoded; an undecodable one fails the test. */
async function readStream<T>(
  nc: NatsConnection,
  stream: string,
  decode: (data: Uint8Array) => DecodeResult<T>,
): Promise<Array<{ streamSeq: number; event: T }>> {
  const jsm = await jetstreamManager(nc);
  const lastSeq = (await jsm.streams.info(stream)).state.last_seq;
  const stored: Array<{ streamSeq: number; event: T }> = [];
  if (lastSeq === 0) return stored;
  const consumer = await jetstream(nc).consumers.get(stream);
  const messages = await consumer.consume();
  for await (const msg of messages) {
    const decoded = decode(msg.data);
    if (!decoded.ok) throw new Error(`invalid event at ${stream} seq ${msg.seq}: ${decoded.detail}`);
    stored.push({ streamSeq: msg.seq, event: decoded.value });
    if (msg.seq >= lastSeq) break;
  }
  await messages.close();
  return stored;
}

/** Every event of WORKER_EVENTS, disruption events included, in stream order. */
export function readWorkerStream(
  nc: NatsConnection,
): Promise<Array<{ streamSeq: number; event: WorkerStreamEvent }>> {
  return readStream(nc, WORKER_EVENTS_STREAM, decodeWorkerEvent);
}

/** The workers' events of WORKER_EVENTS (no disruption events), in stream order. */
export async function readWorkerEvents(nc: NatsConnection): Promise<StoredEvent[]> {
  const stored: StoredEvent[] = [];
  for (const { streamSeq, event } of await readWorkerStream(nc)) {
    if (!isDisruptionEvent(event)) stored.push({ streamSeq, event });
  }
  return stored;
}

/** One worker's events, in stream order. */
export async function readEventsOf(nc: NatsConnection, workerId: string): Promise<WorkerEvent[]> {
  return (await readWorkerEvents(nc))
    .map((stored) => stored.event)
    .filter((event) => event.workerId === workerId);
}

/** Every event of TASKS, in stream order. */
export function readTaskEvents(nc: NatsConnection): Promise<StoredTaskEvent[]> {
  return readStream(nc, TASKS_STREAM, decodeTaskEvent);
}
