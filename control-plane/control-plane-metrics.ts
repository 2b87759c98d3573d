import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { ALERT_KINDS } from '../streams/contracts/alerts.js';
import {
  HEARTBEAT_REJECTION_REASONS,
  type HeartbeatRejectionReason,
} from '../streams/contracts/heartbeat.js';
import {
  WORKER_STATUSES,
  type WorkerStatus,
  type WorkerStreamEvent,
} from '../streams/contracts/worker-events.js';
import type { NatsConnectionState } from '../streams/nats/connection-state.js';
import type { AlertPublisher } from './alert-publisher.js';
import type { ProjectorLagProbe } from './projector-lag.js';
import type { WebhookSender } from './webhook.js';

/** What the metrics read at each scrape; it exists once the control plane has caught up and started. */
export interface MetricSources {
  fleet: { countByStatus(): Record<WorkerStatus, number> };
  intake: {
    accepted: { count: number };
    rejected: Record<HeartbeatRejectionReason, number>;
    totalRejected: number;
  };
  publisher: { stats: { published: number; retried: number }; pending: number };
  scheduler: { stats: { assigned: number }; queueLength: number };
  lag: ProjectorLagProbe;
  roles: () => ControlPlaneRoles;
}

/** What this control plane leads now, among those sharing the cluster. */
export interface ControlPlaneRoles {
  controlPlaneId: string;
  /** The partitions whose workers it judges. */
  partitions: number[];
  /** Whether it runs the scheduler. */
  scheduler: boolean;
  /** Events not written because the lease of their partition was lost (fencing). */
  fencedEvents: number;
}

export interface ControlPlaneMetricsOptions {
  connection: NatsConnectionState;
  alerts: AlertPublisher;
  /** Node's own metrics (CPU, memory, event loop, GC) from prom-client, once per process. */
  processMetrics?: boolean;
}

/** Detection is meant to take milliseconds; the top buckets show a control plane in trouble. */
const DETECTION_DELAY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * The control plane's Prometheus metrics, in a registry of its own (several control planes can
 * share a test process). Counts kept elsewhere (the intake's, the publishers') are read at each
 * scrape; only the detection delays are observed here, as events are stored.
 */
export class ControlPlaneMetrics {
  readonly registry = new Registry();
  private sources?: MetricSources;
  private readonly detectionDelay: Histogram<'transition'>;
  private readonly includeProcessMetrics: boolean;

  constructor(private readonly options: ControlPlaneMetricsOptions) {
    this.includeProcessMetrics = options.processMetrics ?? false;
    // At start, not at the first scrape: the process counters count from their registration.
    if (this.includeProcessMetrics) processRegistry();
    const registers = [this.registry];
    // `collect` runs with the metric as `this`; these read the sources through `metrics`.
    const metrics = this;

    new Gauge({
      name: 'cloudai_workers',
      help: 'Workers known to the fleet, by liveness state.',
      labelNames: ['state'],
      registers,
      collect() {
        const counts = metrics.sources?.fleet.countByStatus();
        if (!counts) return;
        for (const state of WORKER_STATUSES) this.set({ state }, counts[state]);
      },
    });
    new Counter({
      name: 'cloudai_heartbeats_received_total',
      help: 'Heartbeat messages received, valid or not.',
      registers,
      collect() {
        const intake = metrics.sources?.intake;
        if (!intake) return;
        setCounter(this, intake.accepted.count + intake.totalRejected);
      },
    });
    new Counter({
      name: 'cloudai_heartbeats_rejected_total',
      help: 'Heartbeats rejected and dropped, by reason.',
      labelNames: ['reason'],
      registers,
      collect() {
        const intake = metrics.sources?.intake;
        if (!intake) return;
        this.reset();
        for (const reason of HEARTBEAT_REJECTION_REASONS) this.inc({ reason }, intake.rejected[reason]);
      },
    });
    this.detectionDelay = new Histogram({
      name: 'cloudai_detection_delay_seconds',
      help:
        'From the instant a worker became inactive (its countdown ended) or suspect to the moment that ' +
        'event was stored in WORKER_EVENTS.',
      labelNames: ['transition'],
      buckets: DETECTION_DELAY_BUCKETS,
      registers,
    });
    // Both series exist from the start, so a rate over them is defined before the first detection.
    this.detectionDelay.zero({ transition: 'inactive' });
    this.detectionDelay.zero({ transition: 'suspect' });
    new Counter({
      name: 'cloudai_worker_events_published_total',
      help: 'Worker and disruption events stored in WORKER_EVENTS.',
      registers,
      collect() {
        const publisher = metrics.sources?.publisher;
        if (publisher) setCounter(this, publisher.stats.published);
      },
    });
    new Counter({
      name: 'cloudai_worker_events_retried_total',
      help: 'Publishes of worker events that were not acknowledged in time and were sent again.',
      registers,
      collect() {
        const publisher = metrics.sources?.publisher;
        if (publisher) setCounter(this, publisher.stats.retried);
      },
    });
    new Gauge({
      name: 'cloudai_worker_events_pending',
      help: 'Worker events emitted but not yet acknowledged by JetStream.',
      registers,
      collect() {
        const publisher = metrics.sources?.publisher;
        if (publisher) this.set(publisher.pending);
      },
    });
    new Gauge({
      name: 'cloudai_projector_lag_events',
      help: 'Events stored in a stream but not yet applied to the read model.',
      labelNames: ['stream'],
      registers,
      async collect() {
        this.reset();
        const probe = metrics.sources?.lag;
        if (!probe || !metrics.options.connection.isConnected) return;
        // Unknown (JetStream did not answer): no sample, rather than a made-up one.
        const lags = await probe.measure().catch(() => []);
        for (const { stream, lag } of lags) this.set({ stream }, lag);
      },
    });
    new Gauge({
      name: 'cloudai_task_queue_length',
      help: 'Tasks waiting in the scheduler queue for a worker.',
      registers,
      collect() {
        const scheduler = metrics.sources?.scheduler;
        if (scheduler) this.set(scheduler.queueLength);
      },
    });
    new Counter({
      name: 'cloudai_placements_total',
      help: 'Tasks assigned to a worker by the scheduler (each attempt counts).',
      registers,
      collect() {
        const scheduler = metrics.sources?.scheduler;
        if (scheduler) setCounter(this, scheduler.stats.assigned);
      },
    });
    new Gauge({
      name: 'cloudai_partitions_held',
      help: 'Worker partitions whose liveness this control plane judges (it holds their leases).',
      registers,
      collect() {
        const roles = metrics.sources?.roles();
        if (roles) this.set(roles.partitions.length);
      },
    });
    new Gauge({
      name: 'cloudai_scheduler_leader',
      help: '1 while this control plane holds the scheduler lease and runs the scheduler, else 0.',
      registers,
      collect() {
        const roles = metrics.sources?.roles();
        if (roles) this.set(roles.scheduler ? 1 : 0);
      },
    });
    new Counter({
      name: 'cloudai_events_fenced_total',
      help: 'Worker events not written because this control plane had lost the lease of their partition.',
      registers,
      collect() {
        const roles = metrics.sources?.roles();
        if (roles) setCounter(this, roles.fencedEvents);
      },
    });
    new Gauge({
      name: 'cloudai_nats_connected',
      help: '1 while the control plane is connected to NATS, else 0.',
      registers,
      collect() {
        this.set(metrics.options.connection.isConnected ? 1 : 0);
      },
    });
    new Counter({
      name: 'cloudai_alerts_published_total',
      help: 'Alerts published on alerts.> (and handed to the webhook, if one is set), by kind.',
      labelNames: ['alert'],
      registers,
      collect() {
        this.reset();
        for (const alert of ALERT_KINDS) this.inc({ alert }, metrics.options.alerts.published[alert]);
      },
    });
    if (options.alerts.webhook) this.registerWebhookMetrics(options.alerts.webhook, registers);
  }

  /** Starts reading the control plane's counters at each scrape. */
  attach(sources: MetricSources): void {
    this.sources = sources;
  }

  /** An event was stored at `storedAt`: a detection's delay is measured from the instant it happened. */
  observeStored(event: WorkerStreamEvent, storedAt: number): void {
    if (event.type === 'WorkerInactive') {
      this.detectionDelay.observe({ transition: 'inactive' }, Math.max(0, storedAt - event.at) / 1000);
    } else if (event.type === 'WorkerSuspected') {
      this.detectionDelay.observe({ transition: 'suspect' }, Math.max(0, storedAt - event.at) / 1000);
    }
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The exposition text of every metric, this control plane's and (if asked) the process's. */
  async text(): Promise<string> {
    const own = await this.registry.metrics();
    return this.includeProcessMetrics ? own + (await processRegistry().metrics()) : own;
  }

  private registerWebhookMetrics(webhook: WebhookSender, registers: Registry[]): void {
    const { stats } = webhook;
    new Counter({
      name: 'cloudai_alert_webhook_deliveries_total',
      help:
        'Alerts the webhook is done with, by outcome: delivered (2xx), failed (refused or out of attempts), ' +
        'dropped (pushed out of the full queue), abandoned (at shutdown).',
      labelNames: ['outcome'],
      registers,
      collect() {
        this.reset();
        this.inc({ outcome: 'delivered' }, stats.delivered);
        this.inc({ outcome: 'failed' }, stats.failed);
        this.inc({ outcome: 'dropped' }, stats.dropped);
        this.inc({ outcome: 'abandoned' }, stats.abandoned);
      },
    });
    new Counter({
      name: 'cloudai_alert_webhook_retries_total',
      help: 'Webhook requests that failed and were tried again.',
      registers,
      collect() {
        setCounter(this, stats.retried);
      },
    });
    new Gauge({
      name: 'cloudai_alert_webhook_queue_length',
      help: 'Alerts waiting for a webhook delivery slot.',
      registers,
      collect() {
        this.set(webhook.queued);
      },
    });
  }
}

/** A counter that mirrors a running total kept elsewhere. */
function setCounter(counter: Counter, total: number): void {
  counter.reset();
  counter.inc(total);
}

let processMetrics: Registry | undefined;

/**
 * prom-client's process metrics start observers (GC, event-loop delay) that cannot be stopped,
 * so the process gets one registry of them, whatever number of control planes it runs. Its CPU
 * counters count from their registration; the CPU spent before (start-up) is added once, so
 * they show the process's whole use, as `process.cpuUsage()` does.
 */
function processRegistry(): Registry {
  if (!processMetrics) {
    const registry = new Registry();
    // Read just before the counters take their own starting point, so no CPU is counted twice.
    const { user, system } = process.cpuUsage();
    collectDefaultMetrics({ register: registry });
    const before: Array<[string, number]> = [
      ['process_cpu_user_seconds_total', user],
      ['process_cpu_system_seconds_total', system],
      ['process_cpu_seconds_total', user + system],
    ];
    for (const [name, micros] of before)
      (registry.getSingleMetric(name) as Counter | undefined)?.inc(micros / 1e6);
    processMetrics = registry;
  }
  return processMetrics;
}
