import { z } from 'zod';
import { parseDuration } from '../util/duration.js';

/**
 * The operator's requests to the control plane (`workers.api.*`, core NATS request/reply, JSON):
 * `cloudai workers cordon|uncordon|remove ID` and `drain ID --cancel` send `{ "workerId": "kim" }`, `cloudai disruption
 * end` sends `{}`. Every reply is `{ "ok": true }` or `{ "ok": false, "error": "…" }`, the error a
 * sentence the CLI prints as it is.
 */

/** Far above any valid request: a bigger one is refused before it is parsed. */
export const MAX_OPERATOR_REQUEST_BYTES = 1_024;

export const workerRequestSchema = z.object({ workerId: z.string() });

export const disruptionEndRequestSchema = z.object({});

/** A drain without a deadline given (CLI and dashboard): running tasks get this long to finish. */
export const DEFAULT_DRAIN_DEADLINE = '1h';

/** The longest drain deadline: 24 days, the most a timer of the runtime can wait. */
export const MAX_DRAIN_DEADLINE_MS = 24 * 24 * 60 * 60_000;

/** A drain deadline as an operator writes it ("1h30m"), in ms, or why it is not one. */
export function parseDrainDeadline(text: string): { ok: true; ms: number } | { ok: false; problem: string } {
  const ms = parseDuration(text);
  if (ms === undefined || ms > MAX_DRAIN_DEADLINE_MS) {
    return {
      ok: false,
      problem: `${JSON.stringify(text)} is not a duration up to 24 days: write it like 1h, 30m, 1h30m or 90s`,
    };
  }
  return { ok: true, ms };
}

/** `cloudai workers drain ID --deadline D` sends `{ "workerId": "kim", "deadlineMs": 3600000 }`. */
export const drainRequestSchema = z.object({
  workerId: z.string(),
  deadlineMs: z.number().int().min(1).max(MAX_DRAIN_DEADLINE_MS),
});

export const operatorReplySchema = z.discriminatedUnion('ok', [
  z.object({ ok: z.literal(true) }),
  z.object({ ok: z.literal(false), error: z.string() }),
]);
export type OperatorReply = z.infer<typeof operatorReplySchema>;
