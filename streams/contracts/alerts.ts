import { z } from 'zod';
import { type DecodeResult, decodeJson, encodeJson } from '../util/json-codec.js';
import { DISRUPTION_ALERT_SUBJECT, workerAlertSubject } from './subjects.js';
import {
  type DisruptionEvent,
  describeWorkerEvent,
  type WorkerActivated,
  type WorkerInactive,
  type WorkerRecovered,
  type WorkerStreamEvent,
  type WorkerSuspected,
  workerStreamEventSchema,
} from './worker-events.js';

/**
 * Alerts: copies of the liveness changes an operator wants to hear about, for anyone who
 * subscribes to `alerts.>` and for the alert webhook. Each carries the stored event itself,
 * so a receiver needs no other source, and a line a human can read as it is.
 */

export const ALERT_KINDS = [
  'worker-inactive',
  'worker-active',
  'worker-suspect',
  'worker-recovered',
  'disruption-started',
  'disruption-ended',
] as const;
export type AlertKind = (typeof ALERT_KINDS)[number];

/** The events that raise an alert; every other event (registration, capacity, cordon…) does not. */
export type AlertingEvent =
  | WorkerInactive
  | WorkerActivated
  | WorkerSuspected
  | WorkerRecovered
  | DisruptionEvent;

export const alertSchema = z.object({
  alert: z.enum(ALERT_KINDS),
  /** The worker the alert is about; absent for fleet-wide (disruption) alerts. */
  workerId: z.string().optional(),
  summary: z.string(),
  /** When the event was stored in WORKER_EVENTS and the alert raised (ms since the epoch, the monitor's clock). */
  raisedAt: z.number().finite(),
  event: workerStreamEventSchema,
});
export type Alert = z.infer<typeof alertSchema>;

const KIND_OF: Record<AlertingEvent['type'], AlertKind> = {
  WorkerInactive: 'worker-inactive',
  WorkerActivated: 'worker-active',
  WorkerSuspected: 'worker-suspect',
  WorkerRecovered: 'worker-recovered',
  DisruptionStarted: 'disruption-started',
  DisruptionEnded: 'disruption-ended',
};

export function isAlertingEvent(event: WorkerStreamEvent): event is AlertingEvent {
  return event.type in KIND_OF;
}

/** The alert an event raises, or undefined for events that raise none. */
export function alertOf(event: WorkerStreamEvent, raisedAt: number): Alert | undefined {
  if (!isAlertingEvent(event)) return undefined;
  return {
    alert: KIND_OF[event.type],
    ...('workerId' in event ? { workerId: event.workerId } : {}),
    summary: describeWorkerEvent(event),
    raisedAt,
    event,
  };
}

/** `alerts.workers.<id>` for a worker's alerts, `alerts.fleet.disruption` for disruption mode. */
export function alertSubjectOf(alert: Alert): string {
  return alert.workerId === undefined ? DISRUPTION_ALERT_SUBJECT : workerAlertSubject(alert.workerId);
}

export function encodeAlert(alert: Alert): Uint8Array {
  return encodeJson(alert);
}

export function decodeAlert(payload: Uint8Array): DecodeResult<Alert> {
  return decodeJson(payload, alertSchema);
}
