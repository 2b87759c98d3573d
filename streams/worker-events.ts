import { z } from 'zod';
import { capacitySchema } from './heartbeat.js';
import { type DecodeResult, decodeJson, encodeJson } from './json-codec.js';
import { WORKER_ID_PATTERN } from './subjects.js';

/**
 * Events of stream WORKER_EVENTS, one per liveness transition. `seq` counts the
 * transitions of one worker (1, 2, 3, …) and forms its `Nats-Msg-Id`; `at` is the
 * monitor's clock, never the worker's.
 */

/** Liveness as the events record it. */
export type WorkerStatus = 'active' | 'inactive';

const base = {
  workerId: z.string().regex(WORKER_ID_PATTERN),
  at: z.number().finite(),
  seq: z.number().int().min(1),
};

const workerRegisteredSchema = z.object({
  type: z.literal('WorkerRegistered'),
  ...base,
  address: z.string(),
  capacity: capacitySchema,
});

const workerActivatedSchema = z.object({
  type: z.literal('WorkerActivated'),
  ...base,
  lastHeartbeatAt: z.number().finite(),
});

const workerInactiveSchema = z.object({
  type: z.literal('WorkerInactive'),
  ...base,
  lastHeartbeatAt: z.number().finite(),
  silentForMs: z.number().finite().min(0),
});

const workerCapacityChangedSchema = z.object({
  type: z.literal('WorkerCapacityChanged'),
  ...base,
  address: z.string(),
  capacity: capacitySchema,
});

export const workerEventSchema = z.discriminatedUnion('type', [
  workerRegisteredSchema,
  workerActivatedSchema,
  workerInactiveSchema,
  workerCapacityChangedSchema,
]);

export type WorkerEvent = z.infer<typeof workerEventSchema>;
export type WorkerRegistered = z.infer<typeof workerRegisteredSchema>;
export type WorkerActivated = z.infer<typeof workerActivatedSchema>;
export type WorkerInactive = z.infer<typeof workerInactiveSchema>;
export type WorkerCapacityChanged = z.infer<typeof workerCapacityChangedSchema>;
export type WorkerEventType = WorkerEvent['type'];

export function encodeWorkerEvent(event: WorkerEvent): Uint8Array {
  return encodeJson(event);
}

/** Parses a stored event; a corrupt one is reported, not thrown, so one bad record cannot stop a projector. */
export function decodeWorkerEvent(payload: Uint8Array): DecodeResult<WorkerEvent> {
  return decodeJson(payload, workerEventSchema);
}
