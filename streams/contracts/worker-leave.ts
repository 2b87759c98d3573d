import { z } from 'zod';
import { MAX_STOPPED_ATTEMPTS, stoppedAttemptSchema } from './worker-events.js';

/**
 * A worker's announcement that it stops (`workers.leave.<id>`, core NATS request/reply, JSON),
 * sent by `cloudai worker` on SIGINT/SIGTERM after it stopped its tasks:
 * `{ "workerId": "kim", "stoppedAttempts": [{ "taskId": "t-1", "attempt": 2 }] }`. The subject
 * names the worker and only its own identity may publish there, so nobody can announce another
 * worker's leave. The reply is `{ "ok": true }` once the WorkerLeft event is stored, or
 * `{ "ok": false, "error": "…" }`.
 */

/** Far above any valid leave of a worker running its most tasks. */
export const MAX_LEAVE_REQUEST_BYTES = 64 * 1_024;

export const leaveRequestSchema = z.object({
  workerId: z.string(),
  stoppedAttempts: z.array(stoppedAttemptSchema).max(MAX_STOPPED_ATTEMPTS),
});
export type LeaveRequest = z.infer<typeof leaveRequestSchema>;
