import { type ConsumerMessages, DeliverPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { isMarkerSubject, TASKS_STREAM, WORKER_EVENTS_STREAM } from '../../streams/contracts/subjects.js';
import {
  decodeTaskEvent,
  decodeTaskStreamEntry,
  type TaskEvent,
} from '../../streams/contracts/task-events.js';
import {
  decodeWorkerEvent,
  decodeWorkerStreamEntry,
  isDisruptionEvent,
  type WorkerEvent,
  type WorkerStreamEntry,
  type WorkerStreamEvent,
} from '../../streams/contracts/worker-events.js';
import type { DecodeResult } from '../../streams/util/json-codec.js';
import { waitFor } from './nats.js';

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
export async function readWorkerStream(
  nc: NatsConnection,
): Promise<Array<{ streamSeq: number; event: WorkerStreamEvent }>> {
  return withoutMarkers(await readWorkerStreamEntries(nc));
}

/** Every entry of WORKER_EVENTS, the control planes' PartitionTaken markers included. */
export function readWorkerStreamEntries(
  nc: NatsConnection,
): Promise<Array<{ streamSeq: number; event: WorkerStreamEntry }>> {
  return readStream(nc, WORKER_EVENTS_STREAM, decodeWorkerStreamEntry);
}

function withoutMarkers<Stored extends { event: WorkerStreamEntry }>(
  entries: Stored[],
): Array<Stored & { event: WorkerStreamEvent }> {
  return entries.filter(
    (entry): entry is Stored & { event: WorkerStreamEvent } => entry.event.type !== 'PartitionTaken',
  );
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
export async function readTaskEvents(nc: NatsConnection): Promise<StoredTaskEvent[]> {
  const entries = await readStream(nc, TASKS_STREAM, decodeTaskStreamEntry);
  return entries.filter((entry): entry is StoredTaskEvent => entry.event.type !== 'SchedulerTaken');
}

export interface SeenEvent<T> {
  streamSeq: number;
  event: T;
  /** When this process received it (wall clock): an upper bound of when it was stored. */
  seenAt: number;
}

/** Follows a stream as events are stored, from `fromSeq` on, keeping each with when it was seen. */
export class StreamWatch<T> {
  readonly seen: Array<SeenEvent<T>> = [];
  /** The stream sequence of the last message received, markers included. */
  private reached = 0;
  private failure: Error | undefined;

  private constructor(private readonly messages: ConsumerMessages) {}

  static async start<T>(
    nc: NatsConnection,
    stream: string,
    decode: (data: Uint8Array) => DecodeResult<T>,
    fromSeq = 1,
  ): Promise<StreamWatch<T>> {
    const consumer = await jetstream(nc).consumers.get(stream, {
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: fromSeq,
    });
    const watch = new StreamWatch<T>(await consumer.consume());
    void watch.follow(stream, decode);
    return watch;
  }

  /** Resolves with the first event seen (so far or from now) that matches. */
  async waitFor(
    matches: (seen: SeenEvent<T>) => boolean,
    timeoutMs: number,
    what: string,
  ): Promise<SeenEvent<T>> {
    let found: SeenEvent<T> | undefined;
    await waitFor(
      () => {
        if (this.failure) throw this.failure;
        found = this.seen.find(matches);
        return found !== undefined;
      },
      timeoutMs,
      what,
    );
    return found as SeenEvent<T>;
  }

  /** Resolves once every message up to `streamSeq` was received (markers count, though not kept). */
  async waitForPosition(streamSeq: number, timeoutMs: number): Promise<void> {
    await waitFor(
      () => {
        if (this.failure) throw this.failure;
        return this.reached >= streamSeq;
      },
      timeoutMs,
      `the stream up to ${streamSeq}`,
    );
  }

  async stop(): Promise<void> {
    await this.messages.close();
  }

  private async follow(stream: string, decode: (data: Uint8Array) => DecodeResult<T>): Promise<void> {
    for await (const msg of this.messages) {
      this.reached = msg.seq;
      // The control planes' partition and scheduler markers are not events.
      if (isMarkerSubject(msg.subject)) continue;
      const decoded = decode(msg.data);
      if (!decoded.ok) {
        this.failure = new Error(`invalid event at ${stream} seq ${msg.seq}: ${decoded.detail}`);
        return;
      }
      this.seen.push({ streamSeq: msg.seq, event: decoded.value, seenAt: Date.now() });
    }
  }
}

/** Follows WORKER_EVENTS (disruption events included). */
export function watchWorkerStream(nc: NatsConnection, fromSeq = 1): Promise<StreamWatch<WorkerStreamEvent>> {
  return StreamWatch.start(nc, WORKER_EVENTS_STREAM, decodeWorkerEvent, fromSeq);
}

/** Follows TASKS. */
export function watchTaskStream(nc: NatsConnection, fromSeq = 1): Promise<StreamWatch<TaskEvent>> {
  return StreamWatch.start(nc, TASKS_STREAM, decodeTaskEvent, fromSeq);
}
