import { DiscardPolicy, type JetStreamManager, RetentionPolicy, StorageType } from '@nats-io/jetstream';
import { TASK_LOGS_STREAM, TASK_LOGS_WILDCARD } from '../contracts/subjects.js';
import { MAX_LOG_MESSAGE_BYTES, MAX_LOG_MESSAGES_PER_SUBJECT } from '../contracts/task-logs.js';
import { ensureStream, type StreamPlacement } from './event-streams.js';

/**
 * Creates TASK_LOGS, or brings an existing one to `maxBytes`. Per task the workers' rollups keep
 * the bound (see TASK_LOG_BOUNDS; a per-subject message limit guards it); in total, `maxBytes`
 * with the oldest messages dropped first, so the logs of long-finished tasks go before new output.
 */
export async function ensureTaskLogsStream(
  jsm: JetStreamManager,
  maxBytes: number,
  placement?: StreamPlacement,
): Promise<void> {
  const limits = {
    max_bytes: maxBytes,
    max_msgs_per_subject: MAX_LOG_MESSAGES_PER_SUBJECT,
    max_msg_size: MAX_LOG_MESSAGE_BYTES,
    discard: DiscardPolicy.Old,
    allow_rollup_hdrs: true,
  };
  const config = {
    name: TASK_LOGS_STREAM,
    subjects: [TASK_LOGS_WILDCARD],
    storage: StorageType.File,
    retention: RetentionPolicy.Limits,
    ...limits,
  };
  await ensureStream(
    jsm,
    config,
    (existing) =>
      existing.max_bytes !== limits.max_bytes ||
      existing.max_msgs_per_subject !== limits.max_msgs_per_subject ||
      existing.max_msg_size !== limits.max_msg_size ||
      !existing.allow_rollup_hdrs
        ? limits
        : undefined,
    placement,
  );
}
