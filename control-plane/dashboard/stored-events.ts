import { DeliverPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import {
  WORKER_EVENTS_STREAM,
  WORKER_EVENTS_WILDCARD,
  workerEventSubject,
} from '../../streams/contracts/subjects.js';
import { decodeWorkerEvent, type WorkerStreamEvent } from '../../streams/contracts/worker-events.js';

/** Reading of stored events gives up after this long: the page then shows what it got. */
const READ_TIMEOUT_MS = 3_000;

/**
 * The newest `limit` events of WORKER_EVENTS on `subject` (one worker's, or all), oldest first:
 * what the worker page's timeline and the alerts page's first screen are drawn from. Reads with
 * an ordered consumer of its own; the stream, not the read model, keeps the history.
 */
export async function readNewestWorkerEvents(
  nc: NatsConnection,
  options: { workerId?: string; limit: number },
): Promise<WorkerStreamEvent[]> {
  const subject =
    options.workerId === undefined ? WORKER_EVENTS_WILDCARD : workerEventSubject(options.workerId);
  const jsm = await jetstreamManager(nc);
  const info = await jsm.streams.info(WORKER_EVENTS_STREAM);
  const lastSeq = info.state.last_seq;
  if (lastSeq === 0) return [];
  let startSeq = Math.max(info.state.first_seq, 1);
  if (options.workerId === undefined) {
    // Every subject: the newest `limit` messages are the stream's last ones (disruption events included).
    startSeq = Math.max(startSeq, lastSeq - options.limit + 1);
  }
  let lastOfSubject = lastSeq;
  if (options.workerId !== undefined) {
    const last = await jsm.streams
      .getMessage(WORKER_EVENTS_STREAM, { last_by_subj: subject })
      .catch(() => null);
    if (!last) return [];
    lastOfSubject = last.seq;
  }
  const consumer = await jetstream(nc).consumers.get(WORKER_EVENTS_STREAM, {
    ...(options.workerId === undefined ? {} : { filter_subjects: subject }),
    deliver_policy: DeliverPolicy.StartSequence,
    opt_start_seq: startSeq,
  });
  const events: WorkerStreamEvent[] = [];
  const messages = await consumer.consume({ max_messages: 500 });
  const timer = setTimeout(() => void messages.close(), READ_TIMEOUT_MS);
  try {
    for await (const msg of messages) {
      const decoded = decodeWorkerEvent(msg.data);
      if (decoded.ok) {
        events.push(decoded.value);
        // One worker's whole history may be long: keep the newest only.
        if (events.length > options.limit * 2) events.splice(0, events.length - options.limit);
      }
      if (msg.seq >= lastOfSubject) break;
    }
  } finally {
    clearTimeout(timer);
    await messages.close();
  }
  return events.slice(-options.limit);
}
