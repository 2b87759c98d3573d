import { z } from 'zod';
import { encodeJson, parseJson, validateJson } from '../util/json-codec.js';
import { isValidWorkerId, WORKER_ID_PATTERN, workerIdFromHeartbeatSubject } from './subjects.js';

/**
 * The heartbeat a worker publishes on `heartbeat.<workerId>`. Any language can publish one,
 * so the payload is plain JSON and is validated field by field before anything trusts it.
 */

/**
 * Bounds keep absurd values ("huge numbers") out of the read model and the scheduler's
 * arithmetic. Task requests share them: a request above a bound could never fit anywhere.
 */
export const RESOURCE_LIMITS = {
  cpu: 100_000,
  memoryGb: 1_000_000_000,
  storageGb: 1_000_000_000,
  gpu: 10_000,
} as const;
const MAX_CORES = RESOURCE_LIMITS.cpu;
const MAX_GB = RESOURCE_LIMITS.memoryGb;
const MAX_GPUS = RESOURCE_LIMITS.gpu;
const MAX_RUNNING_TASKS = 10_000;
const MAX_ADDRESS_LENGTH = 256;
const MAX_TASK_ID_LENGTH = 128;

const count = (max: number) => z.number().finite().min(0).max(max);

/**
 * Where a worker runs its tasks: in the task's container image (podman, docker), or with
 * `sh -c` on the worker's own host (process). Part of what a worker offers, so it travels
 * with its capacity: a change is a capacity change.
 */
export const WORKER_RUNTIMES = ['podman', 'docker', 'process'] as const;
export type WorkerRuntime = (typeof WORKER_RUNTIMES)[number];

export function isWorkerRuntime(value: unknown): value is WorkerRuntime {
  return typeof value === 'string' && (WORKER_RUNTIMES as readonly string[]).includes(value);
}
const fraction = z.number().finite().min(0).max(1);

export const capacitySchema = z.object({
  cpu: count(MAX_CORES),
  memoryGb: count(MAX_GB),
  storageGb: count(MAX_GB).default(0),
  gpu: count(MAX_GPUS).default(0),
  /** Absent from workers that predate runtimes (and from simulated ones): they are not judged by it. */
  runtime: z.enum(WORKER_RUNTIMES).optional(),
});
export type Capacity = z.infer<typeof capacitySchema>;

const usageSchema = z.object({
  cpu: fraction.default(0),
  memory: fraction.default(0),
  storage: fraction.default(0),
  gpu: fraction.default(0),
});
export type Usage = z.infer<typeof usageSchema>;

const runningTaskSchema = z.object({
  taskId: z.string().min(1).max(MAX_TASK_ID_LENGTH),
  cpu: count(MAX_CORES).default(0),
  memoryGb: count(MAX_GB).default(0),
  gpu: count(MAX_GPUS).default(0),
});
export type RunningTaskReport = z.infer<typeof runningTaskSchema>;

export const heartbeatSchema = z.object({
  workerId: z.string().regex(WORKER_ID_PATTERN),
  sentAt: z.number().finite().min(0).max(Number.MAX_SAFE_INTEGER),
  seq: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  address: z.string().max(MAX_ADDRESS_LENGTH).default(''),
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
  const json = parseJson(payload);
  if (!json.ok) return { ok: false, reason: 'malformed-json', detail: json.detail };
  const fast = acceptHeartbeatFast(json.value);
  if (fast) return checkSubject(fast, subjectWorkerId, subject);
  const parsed = validateJson(json.value, heartbeatSchema);
  if (!parsed.ok) return { ok: false, reason: 'invalid-fields', detail: parsed.detail };
  return checkSubject(parsed.value, subjectWorkerId, subject);
}

function checkSubject(heartbeat: Heartbeat, subjectWorkerId: string, subject: string): HeartbeatDecodeResult {
  if (heartbeat.workerId !== subjectWorkerId) {
    return {
      ok: false,
      reason: 'subject-mismatch',
      detail: `payload workerId ${heartbeat.workerId} published on ${subject}`,
    };
  }
  return { ok: true, heartbeat };
}

/*
 * The fast path. Validating every heartbeat with the zod schema cost more than the actor
 * transition it feeds, so ordinary heartbeats are checked by the hand-written test below,
 * and only what it does not accept goes to the schema, which then decides and words the
 * rejection. The fast path may only accept what the schema accepts, with the same result
 * (defaults filled, unknown keys dropped); when in doubt it declines. A differential test
 * holds the two together.
 */

type JsonRecord = Record<string, unknown>;

function isRecord(value: unknown): value is JsonRecord {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isNumberIn(value: unknown, min: number, max: number): value is number {
  return typeof value === 'number' && Number.isFinite(value) && value >= min && value <= max;
}

/** A defaulted number: the default when absent, the value when valid, NaN (declined) otherwise. */
function numberOr(value: unknown, fallback: number, max: number): number {
  if (value === undefined) return fallback;
  return isNumberIn(value, 0, max) ? value : Number.NaN;
}

/**
 * String length within `max` UTF-16 units. The schema counts code points, of which a string
 * has at most as many as units, so this never accepts what the schema rejects.
 */
function isShortString(value: unknown, max: number): value is string {
  return typeof value === 'string' && value.length <= max;
}

/** The heartbeat as `heartbeatSchema` would parse it, or undefined when the schema must decide. */
export function acceptHeartbeatFast(json: unknown): Heartbeat | undefined {
  if (!isRecord(json)) return undefined;
  const { workerId, sentAt, seq } = json;
  if (!isValidWorkerId(workerId)) return undefined;
  if (!isNumberIn(sentAt, 0, Number.MAX_SAFE_INTEGER)) return undefined;
  if (!Number.isSafeInteger(seq) || (seq as number) < 0) return undefined;
  const address = json.address === undefined ? '' : json.address;
  if (!isShortString(address, MAX_ADDRESS_LENGTH)) return undefined;
  const capacity = acceptCapacityFast(json.capacity);
  if (!capacity) return undefined;
  const usage = acceptUsageFast(json.usage);
  if (!usage) return undefined;
  const runningTasks = acceptRunningTasksFast(json.runningTasks);
  if (!runningTasks) return undefined;
  return { workerId, sentAt, seq: seq as number, address, capacity, usage, runningTasks };
}

function acceptCapacityFast(value: unknown): Capacity | undefined {
  if (!isRecord(value)) return undefined;
  const { cpu, memoryGb } = value;
  if (!isNumberIn(cpu, 0, MAX_CORES) || !isNumberIn(memoryGb, 0, MAX_GB)) return undefined;
  const storageGb = numberOr(value.storageGb, 0, MAX_GB);
  const gpu = numberOr(value.gpu, 0, MAX_GPUS);
  if (Number.isNaN(storageGb) || Number.isNaN(gpu)) return undefined;
  const { runtime } = value;
  if (runtime === undefined) return { cpu, memoryGb, storageGb, gpu };
  return isWorkerRuntime(runtime) ? { cpu, memoryGb, storageGb, gpu, runtime } : undefined;
}

function acceptUsageFast(value: unknown): Usage | undefined {
  if (value === undefined) return { cpu: 0, memory: 0, storage: 0, gpu: 0 };
  if (!isRecord(value)) return undefined;
  const usage = {
    cpu: numberOr(value.cpu, 0, 1),
    memory: numberOr(value.memory, 0, 1),
    storage: numberOr(value.storage, 0, 1),
    gpu: numberOr(value.gpu, 0, 1),
  };
  if (Number.isNaN(usage.cpu + usage.memory + usage.storage + usage.gpu)) return undefined;
  return usage;
}

function acceptRunningTasksFast(value: unknown): RunningTaskReport[] | undefined {
  if (value === undefined) return [];
  if (!Array.isArray(value) || value.length > MAX_RUNNING_TASKS) return undefined;
  const tasks: RunningTaskReport[] = [];
  for (const task of value as unknown[]) {
    if (!isRecord(task)) return undefined;
    const { taskId } = task;
    if (!isShortString(taskId, MAX_TASK_ID_LENGTH) || taskId.length === 0) return undefined;
    const cpu = numberOr(task.cpu, 0, MAX_CORES);
    const memoryGb = numberOr(task.memoryGb, 0, MAX_GB);
    const gpu = numberOr(task.gpu, 0, MAX_GPUS);
    if (Number.isNaN(cpu + memoryGb + gpu)) return undefined;
    tasks.push({ taskId, cpu, memoryGb, gpu });
  }
  return tasks;
}

export function encodeHeartbeat(heartbeat: HeartbeatInput): Uint8Array {
  return encodeJson(heartbeat);
}

export function truncate(text: string, max = 80): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}
