import {
  DiscardPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  type JetStreamManager,
  RetentionPolicy,
  StorageType,
} from '@nats-io/jetstream';
import { TASK_LOGS_STREAM, TASK_LOGS_WILDCARD } from '../contracts/subjects.js';
import { MAX_LOG_MESSAGE_BYTES, MAX_LOG_MESSAGES_PER_SUBJECT } from '../contracts/task-logs.js';
import { STREAM_NAME_IN_USE } from './event-streams.js';

/**
 * Creates TASK_LOGS, or brings an existing one to `maxBytes`. Per task the workers' rollups keep
 * the bound (see TASK_LOG_BOUNDS; a per-subject message limit guards it); in total, `maxBytes`
 * with the oldest messages dropped first, so the logs of long-finished tasks go before new output.
 */
export async function ensureTaskLogsStream(jsm: JetStreamManager, maxBytes: number): Promise<void> {
  const limits = {
    max_bytes: maxBytes,
    max_msgs_per_subject: MAX_LOG_MESSAGES_PER_SUBJECT,
    max_msg_size: MAX_LOG_MESSAGE_BYTES,
    discard: DiscardPolicy.Old,
    allow_rollup_hdrs: true,
  };
  try {
    const existing = await jsm.streams.info(TASK_LOGS_STREAM);
    const { config } = existing;
    if (
      config.max_bytes !== limits.max_bytes ||
      config.max_msgs_per_subject !== limits.max_msgs_per_subject ||
      config.max_msg_size !== limits.max_msg_size ||
      !config.allow_rollup_hdrs
    ) {
      await jsm.streams.update(TASK_LOGS_STREAM, limits);
    }
    return;
  } catch (error) {
    if (!(error instanceof JetStreamApiError) || error.code !== JetStreamApiCodes.StreamNotFound) throw error;
  }
  try {
    await jsm.streams.add({
      name: TASK_LOGS_STREAM,
      subjects: [TASK_LOGS_WILDCARD],
      storage: StorageType.File,
      retention: RetentionPolicy.Limits,
      ...limits,
    });
  } catch (error) {
    // Another control plane created it meanwhile: that is what we wanted.
    if (!(error instanceof JetStreamApiError) || error.code !== STREAM_NAME_IN_USE) throw error;
  }
}
