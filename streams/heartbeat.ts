import { z } from 'zod';
import { isValidWorkerId, WORKER_ID_PATTERN, workerIdFromHeartbeatSubject } from './subjects.js';

/**
 * The heartbeat a worker publishes on `heartbeat.<workerId>`. Any language can publish one,
 * so the payload is plain JSON and is validated field by field before anything trusts it.
 */

// Bounds keep absurd values ("huge numbers") out of the read model and the scheduler's arithmetic.
const MAX_CORES = 100_000;
const MAX_GB = 1_000_000_000;
const MAX_GPUS = 10_000;
const MAX_RUNNING_TASKS = 10_000;

const count = (max: number) => z.number().finite().min(0).max(max);
const fraction = z.number().finite().min(0).max(1);

export const capacitySchema = z.object({
  cpu: count(MAX_CORES),
  memoryGb: count(MAX_GB),
  storageGb: count(MAX_GB).default(0),
  gpu: count(MAX_GPUS).default(0),
});
export type Capacity = z.infer<typeof capacitySchema>;

export const usageSchema = z.object({
  cpu: fraction.default(0),
  memory: fraction.default(0),
  storage: fraction.default(0),
  gpu: fraction.default(0),
});
export type Usage = z.infer<typeof usageSchema>;

const runningTaskSchema = z.object({
  taskId: z.string().min(1).max(128),
  cpu: count(MAX_CORES).default(0),
  memoryGb: count(MAX_GB).default(0),
  gpu: count(MAX_GPUS).default(0),
});
export type RunningTaskReport = z.infer<typeof runningTaskSchema>;

export const heartbeatSchema = z.object({
  workerId: z.string().regex(WORKER_ID_PATTERN),
  sentAt: z.number().finite().min(0).max(Number.MAX_SAFE_INTEGER),
  seq: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  address: z.string().max(256).default(''),
  capacity: capacitySchema,
  usage: usageSchema.default({ cpu: 0, memory: 0, storage: 0, gpu: 0 }),
  runningTasks: z.array(runningTaskSchema).max(MAX_RUNNING_TASKS).default([]),
});
export type Heartbeat = z.infer<typeof heartbeatSchema>;

/** What a heartbeat publisher supplies; fields with defaults may be left out. */
export type HeartbeatInput = z.input<typeof heartbeatSchema>;

export const HEARTBEAT_REJECTION_REASONS = [
  'oversized',
  'invalid-subject',
  'malformed-json',
  'invalid-fields',
  'subject-mismatch',
  // Valid, but from a new id while the monitor already tracks as many workers as it may.
  'fleet-full',
] as const;
export type HeartbeatRejectionReason = (typeof HEARTBEAT_REJECTION_REASONS)[number];

export type HeartbeatDecodeResult =
  | { ok: true; heartbeat: Heartbeat }
  | { ok: false; reason: HeartbeatRejectionReason; detail: string };

const utf8 = new TextDecoder();
const utf8Encoder = new TextEncoder();

/** Validates a raw heartbeat message; never throws, whatever the bytes. */
export function decodeHeartbeat(
  subject: string,
  payload: Uint8Array,
  maxBytes: number,
): HeartbeatDecodeResult {
  const subjectWorkerId = workerIdFromHeartbeatSubject(subject);
  if (!isValidWorkerId(subjectWorkerId)) {
    return {
      ok: false,
      reason: 'invalid-subject',
      detail: `subject ${truncate(subject)} does not name a valid worker id`,
    };
  }
  if (payload.byteLength > maxBytes) {
    return { ok: false, reason: 'oversized', detail: `${payload.byteLength} bytes, limit ${maxBytes}` };
  }
  let json: unknown;
  try {
    json = JSON.parse(utf8.decode(payload));
  } catch (error) {
    return { ok: false, reason: 'malformed-json', detail: (error as Error).message };
  }
  const parsed = heartbeatSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.join('.') || '(root)';
    return { ok: false, reason: 'invalid-fields', detail: `${where}: ${issue?.message ?? 'invalid'}` };
  }
  if (parsed.data.workerId !== subjectWorkerId) {
    return {
      ok: false,
      reason: 'subject-mismatch',
      detail: `payload workerId ${parsed.data.workerId} published on ${subject}`,
    };
  }
  return { ok: true, heartbeat: parsed.data };
}

export function encodeHeartbeat(heartbeat: HeartbeatInput): Uint8Array {
  return utf8Encoder.encode(JSON.stringify(heartbeat));
}

function truncate(text: string, max = 80): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}
