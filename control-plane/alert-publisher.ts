import type { NatsConnection } from '@nats-io/transport-node';
import {
  ALERT_KINDS,
  type AlertKind,
  alertOf,
  alertSubjectOf,
  encodeAlert,
} from '../streams/contracts/alerts.js';
import type { WorkerStreamEvent } from '../streams/contracts/worker-events.js';
import { type Logger, RateLimitedLog } from '../streams/util/logger.js';
import type { WebhookSender } from './webhook.js';

export interface AlertPublisherOptions {
  nc: NatsConnection;
  logger: Logger;
  /** Also POSTs every alert there (`--alert-webhook`). */
  webhook?: WebhookSender;
  now?: () => number;
}

/**
 * Raises the alert of each stored event: published with core NATS on `alerts.…` (not stored:
 * whoever listens hears it) and handed to the webhook, if there is one. It is told about an
 * event only once JetStream has stored it, so an alert never announces a change that could
 * still be lost.
 */
export class AlertPublisher {
  readonly published = Object.fromEntries(ALERT_KINDS.map((kind) => [kind, 0])) as Record<AlertKind, number>;
  private readonly now: () => number;
  private readonly log: RateLimitedLog;

  constructor(private readonly options: AlertPublisherOptions) {
    this.now = options.now ?? Date.now;
    this.log = new RateLimitedLog(options.logger);
  }

  get webhook(): WebhookSender | undefined {
    return this.options.webhook;
  }

  /** Publishes the event's alert, if it raises one; never throws. */
  raise(event: WorkerStreamEvent): void {
    const alert = alertOf(event, this.now());
    if (!alert) return;
    try {
      this.options.nc.publish(alertSubjectOf(alert), encodeAlert(alert));
      this.published[alert.alert]++;
    } catch (error) {
      // A closed connection (shutdown): the event is stored; only this copy is lost.
      this.log.warn('publish', `alert ${alert.alert} not published: ${(error as Error).message}`);
    }
    this.options.webhook?.send(alert);
  }

  /** Gives the webhook's deliveries under way a short while to finish. */
  async close(): Promise<void> {
    await this.options.webhook?.close();
  }
}
