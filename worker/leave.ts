import type { NatsConnection } from '@nats-io/transport-node';
import { operatorReplySchema } from '../streams/contracts/operator-requests.js';
import { workerLeaveSubject } from '../streams/contracts/subjects.js';
import type { LeaveRequest } from '../streams/contracts/worker-leave.js';
import { requestJson } from '../streams/nats/request-reply.js';
import type { Logger } from '../streams/util/logger.js';
import type { HeartbeatPublisher } from './heartbeat-publisher.js';
import type { TaskAgent } from './task-agent.js';

/** Longest a leaving worker waits for the control plane to record its leave. */
export const LEAVE_REPLY_TIMEOUT_MS = 2_000;
/** Longest it waits for the reports of attempts that ended just before it stopped. */
const FINAL_REPORTS_TIMEOUT_MS = 500;

export interface LeaveParts {
  nc: NatsConnection;
  workerId: string;
  publisher: HeartbeatPublisher;
  agent: TaskAgent;
  logger: Logger;
}

/**
 * A clean stop: no more heartbeats, the tasks stopped, the reports of those that ended sent,
 * then the leave announced on the worker's own subject, so the control plane records WorkerLeft
 * and places the stopped tasks elsewhere at once instead of waiting out the heartbeat timeout.
 * Without an answer (no control plane, or a slow one) the worker still stops: its silence
 * is then noticed by the timeout, as for a crash. Returns whether the leave was recorded.
 */
export async function leaveCleanly(parts: LeaveParts): Promise<boolean> {
  const { nc, workerId, logger } = parts;
  parts.publisher.stop();
  const stoppedAttempts = await parts.agent.stopAll();
  await parts.agent.flushReports(FINAL_REPORTS_TIMEOUT_MS);
  const request: LeaveRequest = { workerId, stoppedAttempts };
  const reply = await requestJson(
    nc,
    workerLeaveSubject(workerId),
    request,
    operatorReplySchema,
    LEAVE_REPLY_TIMEOUT_MS,
  );
  const tasks = stoppedAttempts.map(({ taskId }) => taskId).join(', ') || 'none';
  if (reply.ok && reply.value.ok) {
    logger.info(`left the fleet (stopped tasks: ${tasks}); they are placed elsewhere`);
    return true;
  }
  const why = reply.ok ? (reply.value.ok ? '' : reply.value.error) : reply.detail;
  logger.warn(
    `the control plane did not record this leave (${why}); stopped tasks: ${tasks}; ` +
      'they are placed elsewhere once the heartbeat timeout passes',
  );
  return false;
}
