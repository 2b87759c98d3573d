import {
  JetStreamApiCodes,
  JetStreamApiError,
  type JetStreamManager,
  RetentionPolicy,
  StorageType,
} from '@nats-io/jetstream';
import { WORKER_EVENTS_STREAM, WORKER_EVENTS_WILDCARD } from './subjects.js';

/** Retries of one event arrive well within this window, so JetStream stores each `Nats-Msg-Id` once. */
export const DUPLICATE_WINDOW_MS = 2 * 60_000;

const NANOS_PER_MS = 1_000_000;
/** JetStream's error code when a stream of that name exists with another configuration. */
const STREAM_NAME_IN_USE = 10058;

/** Creates WORKER_EVENTS if missing; leaves an existing stream (and its data) alone. Safe to call at every start. */
export async function ensureWorkerEventsStream(jsm: JetStreamManager): Promise<void> {
  const config = {
    name: WORKER_EVENTS_STREAM,
    subjects: [WORKER_EVENTS_WILDCARD],
    storage: StorageType.File,
    retention: RetentionPolicy.Limits,
    duplicate_window: DUPLICATE_WINDOW_MS * NANOS_PER_MS,
  };
  try {
    await jsm.streams.info(WORKER_EVENTS_STREAM);
    return;
  } catch (error) {
    if (!(error instanceof JetStreamApiError) || error.code !== JetStreamApiCodes.StreamNotFound) throw error;
  }
  try {
    await jsm.streams.add(config);
  } catch (error) {
    // Another process created it between our info and add: that is what we wanted.
    if (error instanceof JetStreamApiError && error.code === STREAM_NAME_IN_USE) return;
    throw error;
  }
}
