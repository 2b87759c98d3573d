import {
  JetStreamApiCodes,
  JetStreamApiError,
  type JetStreamManager,
  RetentionPolicy,
  StorageType,
  type StreamConfig,
  type StreamUpdateConfig,
} from '@nats-io/jetstream';
import { nanos } from '@nats-io/transport-node';
import {
  DISRUPTION_EVENTS_SUBJECT,
  PARTITION_TAKEN_WILDCARD,
  SCHEDULER_TAKEN_SUBJECT,
  TASK_EVENTS_WILDCARD,
  TASKS_STREAM,
  WORKER_EVENTS_STREAM,
  WORKER_EVENTS_WILDCARD,
} from '../contracts/subjects.js';
import { createConsoleLogger } from '../util/logger.js';
import { replicaMismatchWarning, replicasFor } from './stream-replicas.js';

/** Retries of one event arrive well within this window, so JetStream stores each `Nats-Msg-Id` once. */
export const DUPLICATE_WINDOW_MS = 2 * 60_000;

/** JetStream's error code when a stream of that name exists with another configuration. */
const STREAM_NAME_IN_USE = 10058;

/** How many copies of a new stream the cluster keeps, and where a disagreement with an existing one is told. */
export interface StreamPlacement {
  /** Default: `replicasFor(jsm)`, 3 on a cluster of three or more JetStream servers, else 1. */
  replicas?: number;
  /** Receives the warning about an existing stream whose replicas differ; default: a line on stderr. */
  onWarning?: (message: string) => void;
}

/**
 * Creates WORKER_EVENTS if missing; leaves an existing stream (and its data) alone. Safe to call
 * at every start. Resolves with the stream's last sequence.
 */
export function ensureWorkerEventsStream(
  jsm: JetStreamManager,
  placement?: StreamPlacement,
): Promise<number> {
  return ensureEventStream(
    jsm,
    WORKER_EVENTS_STREAM,
    [WORKER_EVENTS_WILDCARD, DISRUPTION_EVENTS_SUBJECT, PARTITION_TAKEN_WILDCARD],
    placement,
  );
}

/** Creates TASKS if missing; leaves an existing stream (and its data) alone. Safe to call at every start. Resolves with its last sequence. */
export function ensureTasksStream(jsm: JetStreamManager, placement?: StreamPlacement): Promise<number> {
  return ensureEventStream(jsm, TASKS_STREAM, [TASK_EVENTS_WILDCARD, SCHEDULER_TAKEN_SUBJECT], placement);
}

/**
 * Creates an event stream (file storage, kept by limits, de-duplicated by `Nats-Msg-Id`) if
 * missing. An existing one keeps its data; subjects it lacks (a stream created by an older
 * version) are added. Resolves with the stream's last sequence (0 for a new one), which a
 * starting control plane waits for its read model to reach.
 */
export function ensureEventStream(
  jsm: JetStreamManager,
  name: string,
  subjects: readonly string[],
  placement?: StreamPlacement,
): Promise<number> {
  const config = {
    name,
    subjects: [...subjects],
    storage: StorageType.File,
    retention: RetentionPolicy.Limits,
    duplicate_window: nanos(DUPLICATE_WINDOW_MS),
  };
  return ensureStream(
    jsm,
    config,
    (existing) => {
      const missing = subjects.filter((subject) => !existing.subjects?.includes(subject));
      return missing.length > 0 ? { subjects: [...(existing.subjects ?? []), ...missing] } : undefined;
    },
    placement,
  );
}

/**
 * Creates the stream `config` describes if missing, with the replicas of `placement`. An
 * existing one keeps its data and its replicas (a difference is warned about, never fixed by
 * re-creating it) and gets the change `changeOf` asks for, if any. Resolves with the stream's
 * last sequence (0 for a new one).
 */
export async function ensureStream(
  jsm: JetStreamManager,
  config: Partial<StreamConfig> & { name: string },
  changeOf: (existing: StreamConfig) => Partial<StreamUpdateConfig> | undefined,
  placement: StreamPlacement = {},
): Promise<number> {
  const wantedReplicas = () => (placement.replicas ? Promise.resolve(placement.replicas) : replicasFor(jsm));
  try {
    const existing = await jsm.streams.info(config.name);
    const change = changeOf(existing.config);
    if (change) await jsm.streams.update(config.name, change);
    const warning = replicaMismatchWarning(
      config.name,
      existing.config.num_replicas || 1,
      await wantedReplicas(),
    );
    if (warning) (placement.onWarning ?? warnOnStderr)(warning);
    return existing.state.last_seq;
  } catch (error) {
    if (!(error instanceof JetStreamApiError) || error.code !== JetStreamApiCodes.StreamNotFound) throw error;
  }
  try {
    return (await jsm.streams.add({ ...config, num_replicas: await wantedReplicas() })).state.last_seq;
  } catch (error) {
    // Another process created it between our info and add: that is what we wanted.
    if (error instanceof JetStreamApiError && error.code === STREAM_NAME_IN_USE) {
      return (await jsm.streams.info(config.name)).state.last_seq;
    }
    throw error;
  }
}

function warnOnStderr(message: string): void {
  createConsoleLogger('streams').warn(message);
}
