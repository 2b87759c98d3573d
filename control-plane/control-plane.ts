import { hostname } from 'node:os';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { Fleet } from '../actors/fleet.js';
import type { KnownWorker } from '../actors/liveness-machine.js';
import { disruptionPartOf } from '../projections/disruption-document.js';
import { ReadModel } from '../projections/read-model.js';
import { startTaskProjector, type TaskProjector } from '../projections/task-projector.js';
import type { WorkerDocument } from '../projections/worker-document.js';
import { startWorkerProjector, type WorkerProjector } from '../projections/worker-projector.js';
import { createPolicy } from '../scheduler/policies/create-policy.js';
import { loadRtsParams } from '../scheduler/policies/rts-params.js';
import { type SchedulerOptions, SchedulerService } from '../scheduler/scheduler-service.js';
import { ALL_PARTITIONS, partitionOf } from '../streams/contracts/partitions.js';
import {
  DISRUPTION_EVENTS_SUBJECT,
  disruptionEventMessageId,
  SCHEDULER_TAKEN_SUBJECT,
  schedulerTakenMessageId,
  TASKS_STREAM,
  WORKER_EVENTS_STREAM,
  workerEventMessageId,
  workerEventSubject,
} from '../streams/contracts/subjects.js';
import { encodeSchedulerTaken } from '../streams/contracts/task-events.js';
import {
  describeWorkerEvent,
  encodeWorkerEvent,
  isDisruptionEvent,
  type WorkerStreamEvent,
} from '../streams/contracts/worker-events.js';
import { connectToNats, type NatsCredentials } from '../streams/nats/connection.js';
import { NatsConnectionState } from '../streams/nats/connection-state.js';
import { ensureTasksStream, ensureWorkerEventsStream } from '../streams/nats/event-streams.js';
import { retryWhileTimingOut } from '../streams/nats/jetstream-retry.js';
import { FencedError, OrderedPublisher, type OutgoingMessage } from '../streams/nats/ordered-publisher.js';
import { waitForStreamEnd } from '../streams/nats/stream-end.js';
import { replicasForRetrying } from '../streams/nats/stream-replicas.js';
import { ensureTaskLogsStream } from '../streams/nats/task-log-stream.js';
import { MONOTONIC_CLOCK, toWallTime } from '../streams/util/clock.js';
import { createConsoleLogger, type Logger, RateLimitedLog } from '../streams/util/logger.js';
import { AlertPublisher } from './alert-publisher.js';
import { controlPlaneIdOf } from './control-plane-id.js';
import { ControlPlaneMetrics, type ControlPlaneRoles } from './control-plane-metrics.js';
import { DashboardServer } from './dashboard/dashboard-server.js';
import { DrainCoordinator } from './drain-coordinator.js';
import { HealthCheck } from './health.js';
import { HeartbeatIntake } from './heartbeat-intake.js';
import { openLeaseBucket, type Role } from './leases/lease-bucket.js';
import { LeaseKeeper } from './leases/lease-keeper.js';
import { LeaveIntake } from './leave-intake.js';
import { MetricsServer } from './metrics-server.js';
import { OperatorApi, settleWorkerEvents } from './operator-api.js';
import { PartitionRouter } from './partition-router.js';
import { PartitionTakeover } from './partition-takeover.js';
import { ProjectorLagProbe } from './projector-lag.js';
import { SchedulerRole } from './scheduler-role.js';
import { type ControlPlaneSettings, livenessSettingsOf } from './settings.js';
import { WebhookSender } from './webhook.js';

export interface ControlPlaneOptions {
  settings: ControlPlaneSettings;
  credentials?: NatsCredentials;
  /** The CA of the server's certificate: connect over TLS (see `connectToNats`). */
  tlsCaFile?: string;
  /** Defaults to console loggers per component. */
  logger?: (component: string) => Logger;
  /** Called for each transition as the fleet emits it, before it is published (benchmarks time detection with it). */
  onTransition?: (event: WorkerStreamEvent) => void;
  /** Called after each event is acknowledged by JetStream (tests and benchmarks observe with it). */
  onEventStored?: (event: WorkerStreamEvent, streamSeq: number) => void;
  /** Called after each scheduling event (submitted, assigned, requeued…) is acknowledged by JetStream. */
  onTaskEventStored?: SchedulerOptions['onTaskEventStored'];
  /** Node's process metrics next to the control plane's (`cloudai serve`: yes; tests: no need). */
  processMetrics?: boolean;
}

/** What a started control plane is made of. */
interface ControlPlaneParts {
  nc: NatsConnection;
  readModel: ReadModel;
  projector: WorkerProjector;
  taskProjector: TaskProjector;
  fleet: Fleet;
  publisher: OrderedPublisher;
  schedulerRole: SchedulerRole;
  leases: LeaseKeeper;
  leaseConnection: NatsConnection;
  eventConnection: NatsConnection;
  intake: HeartbeatIntake;
  operatorApi: OperatorApi;
  leaves: LeaveIntake;
  drains: DrainCoordinator;
  logger: Logger;
  alerts: AlertPublisher;
  metrics: ControlPlaneMetrics;
  metricsServer: MetricsServer | undefined;
}

/**
 * `cloudai serve`: the fleet of liveness actors fed by heartbeats, the publisher that turns
 * their transitions into WORKER_EVENTS, the projectors that fold WORKER_EVENTS and TASKS into
 * the read model, and the scheduler that follows both streams and places tasks.
 */
export class ControlPlane {
  readonly nc: NatsConnection;
  readonly readModel: ReadModel;
  readonly projector: WorkerProjector;
  readonly taskProjector: TaskProjector;
  readonly fleet: Fleet;
  readonly publisher: OrderedPublisher;
  /** Runs the scheduler while this control plane holds the scheduler lease. */
  readonly schedulerRole: SchedulerRole;
  /** This control plane's leases: the partitions whose workers it judges, and the scheduler. */
  readonly leases: LeaseKeeper;
  readonly intake: HeartbeatIntake;
  readonly operatorApi: OperatorApi;
  readonly leaves: LeaveIntake;
  readonly drains: DrainCoordinator;
  readonly alerts: AlertPublisher;
  readonly metrics: ControlPlaneMetrics;
  /** Serves /metrics and /healthz when `metricsPort` is set. */
  readonly metricsServer: MetricsServer | undefined;
  /** The web dashboard and its JSON API, when `httpPort` is set. */
  dashboard: DashboardServer | undefined;
  private readonly logger: Logger;
  private readonly leaseConnection: NatsConnection;
  private readonly eventConnection: NatsConnection;

  private constructor(parts: ControlPlaneParts) {
    this.leaseConnection = parts.leaseConnection;
    this.eventConnection = parts.eventConnection;
    this.nc = parts.nc;
    this.readModel = parts.readModel;
    this.projector = parts.projector;
    this.taskProjector = parts.taskProjector;
    this.fleet = parts.fleet;
    this.publisher = parts.publisher;
    this.schedulerRole = parts.schedulerRole;
    this.leases = parts.leases;
    this.intake = parts.intake;
    this.operatorApi = parts.operatorApi;
    this.leaves = parts.leaves;
    this.drains = parts.drains;
    this.alerts = parts.alerts;
    this.metrics = parts.metrics;
    this.metricsServer = parts.metricsServer;
    this.logger = parts.logger;
  }

  /** The scheduler, where this control plane runs it (a lone control plane always does). */
  get scheduler(): SchedulerService {
    const scheduler = this.schedulerRole.current;
    if (!scheduler)
      throw new Error(`control plane ${this.leases.controlPlaneId} does not run the scheduler now`);
    return scheduler;
  }

  static async start(options: ControlPlaneOptions): Promise<ControlPlane> {
    const controlPlane = await ControlPlane.startServices(options);
    const { settings: config } = options;
    if (config.httpPort > 0) {
      // Last: it indexes the read model as the projectors left it, and follows them from there.
      try {
        controlPlane.dashboard = await DashboardServer.start({
          host: config.httpHost,
          port: config.httpPort,
          token: config.httpToken,
          sources: {
            nc: controlPlane.nc,
            readModel: controlPlane.readModel,
            workerProjector: controlPlane.projector,
            taskProjector: controlPlane.taskProjector,
            operator: controlPlane.operatorApi,
            scheduler: controlPlane.schedulerRole,
          },
          logger: (options.logger ?? createConsoleLogger)('dashboard'),
        });
      } catch (error) {
        await controlPlane.close();
        throw error;
      }
    }
    return controlPlane;
  }

  private static async startServices(options: ControlPlaneOptions): Promise<ControlPlane> {
    const { settings: config } = options;
    const loggerFor = options.logger ?? createConsoleLogger;
    const logger = loggerFor('serve');
    // A broken parameters file is the operator's to fix before anything starts.
    const policy = createPolicy(config.policy, loadRtsParams(config.rtsParams || undefined));
    const nc = await connectToNats({
      url: config.natsUrl,
      name: 'cloudai-serve',
      credentials: options.credentials,
      tlsCaFile: options.tlsCaFile,
    });
    // What has started so far, to stop (last first) if a later step fails: a failed start leaves
    // nothing running, so a program that embeds the control plane can report the error and exit.
    const startedParts: Array<{ name: string; stop: () => unknown }> = [
      { name: 'NATS connection', stop: () => nc.close() },
    ];
    const alerts = new AlertPublisher({
      nc,
      logger: loggerFor('alerts'),
      webhook: config.alertWebhook
        ? new WebhookSender({ url: config.alertWebhook, logger: loggerFor('alerts') })
        : undefined,
    });
    startedParts.push({ name: 'alert publisher', stop: () => alerts.close() });
    try {
      const connection = new NatsConnectionState(nc);
      const metrics = new ControlPlaneMetrics({ connection, alerts, processMetrics: options.processMetrics });
      const health = new HealthCheck(connection);
      // Listening first: a port already taken stops the start before anything else runs, and
      // /healthz says "starting" while the read model catches up.
      const metricsServer =
        config.metricsPort > 0
          ? await MetricsServer.start({
              host: config.metricsHost,
              port: config.metricsPort,
              metrics,
              health,
              logger: loggerFor('metrics'),
            })
          : undefined;
      if (metricsServer) startedParts.push({ name: 'metrics server', stop: () => metricsServer.close() });
      const jsm = await jetstreamManager(nc);
      // Three replicas on a cluster of three or more JetStream servers, one otherwise.
      const replicas = await retryWhileTimingOut(
        'counting JetStream servers',
        () => replicasForRetrying(nc),
        logger,
      );
      const placement = { replicas, onWarning: (message: string) => logger.warn(message) };
      const workerEventsLastSeq = await retryWhileTimingOut(
        'creating WORKER_EVENTS',
        () => ensureWorkerEventsStream(jsm, placement),
        logger,
      );
      const tasksLastSeq = await retryWhileTimingOut(
        'creating TASKS',
        () => ensureTasksStream(jsm, placement),
        logger,
      );
      await retryWhileTimingOut(
        'creating TASK_LOGS',
        () => ensureTaskLogsStream(jsm, config.taskLogsMaxBytes, placement),
        logger,
      );
      const readModel = ReadModel.open({ dataDir: config.dataDir });
      startedParts.push({ name: 'read model', stop: () => readModel.close() });
      const projector = await retryWhileTimingOut(
        'following WORKER_EVENTS',
        () => startWorkerProjector({ nc, readModel, logger: loggerFor('projector') }),
        logger,
      );
      startedParts.push({ name: 'worker projector', stop: () => projector.close() });
      // The drains follow what the task projection moves; they are set up once the fleet is.
      let drainsReady: DrainCoordinator | undefined;
      const taskProjector = await retryWhileTimingOut(
        'following TASKS',
        () =>
          startTaskProjector({
            nc,
            readModel,
            logger: loggerFor('tasks'),
            onHoldingsChanged: (workerIds) => drainsReady?.holdingsChanged(workerIds),
          }),
        logger,
      );
      startedParts.push({ name: 'task projector', stop: () => taskProjector.close() });

      // The read model catches up with the streams before anything is judged or scheduled (each
      // partition and the scheduler catch up again when they are taken: others may write meanwhile).
      await Promise.all([
        projector.waitForPosition(workerEventsLastSeq),
        taskProjector.waitForPosition(tasksLastSeq),
      ]);

      const controlPlaneId = controlPlaneIdOf(config.dataDir);
      // Leases on a connection of their own: renewals must not queue behind a burst of events.
      const leaseConnection = await connectToNats({
        url: config.natsUrl,
        name: 'cloudai-serve-leases',
        credentials: options.credentials,
        tlsCaFile: options.tlsCaFile,
      });
      startedParts.push({ name: 'lease connection', stop: () => leaseConnection.close() });
      // Worker events on a connection of their own too: their acknowledgements must not queue
      // behind the heartbeats that arrive on the main one.
      const eventConnection = await connectToNats({
        url: config.natsUrl,
        name: 'cloudai-serve-events',
        credentials: options.credentials,
        tlsCaFile: options.tlsCaFile,
      });
      startedParts.push({ name: 'event connection', stop: () => eventConnection.close() });
      const leaseBucket = await retryWhileTimingOut(
        'opening the lease bucket',
        () => openLeaseBucket(leaseConnection, { ttlMs: config.leaseTtlMs, replicas }),
        logger,
      );
      // Set once the lease keeper runs; every write for a worker asks it first (fencing).
      let leases: LeaseKeeper | undefined;
      const epochOfWorker = (workerId: string) =>
        leases?.epochOf({ kind: 'partition', partition: partitionOf(workerId) });
      const fenceLog = new RateLimitedLog(logger);
      const fencedBeforeSending = { count: 0 };
      const publisher = new OrderedPublisher({
        nc: eventConnection,
        logger: loggerFor('publisher'),
        mayPublish: (key) => key === DISRUPTION_ORDERING_KEY || epochOfWorker(key) !== undefined,
      });
      const fleet = new Fleet({
        settings: livenessSettingsOf(config),
        maxWorkers: config.maxWorkers,
        onEvent: (transition) => {
          const stamped = stampWriter(transition, controlPlaneId, epochOfWorker);
          if (!stamped) {
            fencedBeforeSending.count++;
            fenceLog.warn(
              'fenced',
              `${transition.type} not published: this control plane no longer holds the worker's partition`,
            );
            return;
          }
          const event = stamped;
          options.onTransition?.(event);
          logTransition(logger, event);
          publisher
            .publish(orderingKeyOf(event), eventMessage(event))
            .then((streamSeq) => {
              metrics.observeStored(event, Date.now());
              alerts.raise(event);
              options.onEventStored?.(event, streamSeq);
            })
            .catch((error: Error) => {
              if (error instanceof FencedError)
                fenceLog.warn('fenced', `${event.type} of ${orderingKeyOf(event)}: ${error.message}`);
              else logger.warn(`event ${event.type} of ${orderingKeyOf(event)} not stored: ${error.message}`);
            });
        },
      });
      startedParts.push({ name: 'fleet', stop: () => fleet.stop() });
      // Each control plane continues its own disruption mode; the workers come with the partitions.
      fleet.restoreDisruption(disruptionPartOf(readModel.disruption(), controlPlaneId));

      const schedulerRole = new SchedulerRole({
        nc,
        logger: loggerFor('scheduler'),
        maxHeartbeatBytes: config.maxHeartbeatBytes,
        requestTimeoutMs: Math.floor(config.requestTimeoutMs / 2),
        start: async (epoch) => {
          // First the marker: from it on, every reader skips a late decision of a previous scheduler.
          await jetstream(nc).publish(
            SCHEDULER_TAKEN_SUBJECT,
            encodeSchedulerTaken({
              type: 'SchedulerTaken',
              epoch,
              controlPlane: controlPlaneId,
              at: Date.now(),
            }),
            { msgID: schedulerTakenMessageId(epoch) },
          );
          // The scheduler decides from the read model: it must hold every event stored so far.
          await Promise.all([
            waitForStreamEnd(jsm, WORKER_EVENTS_STREAM, [(seq) => projector.waitForPosition(seq)]),
            waitForStreamEnd(jsm, TASKS_STREAM, [(seq) => taskProjector.waitForPosition(seq)]),
          ]);
          // One snapshot at positions N, and the worker projector's batches from N + 1 told to the
          // scheduler from the same tick on (it starts following TASKS after N itself).
          const snapshot = readModel.snapshot((view) => ({
            // The scheduler needs no uptime records, and a large fleet has many.
            workers: view.listWorkers({ uptime: false }),
            tasks: view.listTasks(),
            disruption: view.disruption(),
            workerPosition: view.position(WORKER_EVENTS_STREAM),
            taskPosition: view.position(TASKS_STREAM),
            schedulerEpoch: view.schedulerEpoch(),
          }));
          return SchedulerService.start({
            nc,
            workerEvents: projector,
            logger: loggerFor('scheduler'),
            snapshot,
            identity: readModel.path,
            policy,
            assignTimeoutMs: config.assignTimeoutMs,
            retryAfterMs: config.assignRetryAfterMs,
            bypassLimit: config.queueBypassLimit,
            submitWaitMs: Math.floor(config.requestTimeoutMs / 2),
            onTaskEventStored: options.onTaskEventStored,
            allowHostTasks: config.allowHostTasks,
            leaseEpoch: () => leases?.epochOf(SCHEDULER_ROLE),
          });
        },
      });

      const intake = new HeartbeatIntake({
        nc,
        logger: loggerFor('heartbeats'),
        maxHeartbeatBytes: config.maxHeartbeatBytes,
        // Received on the monotonic clock, like the fleet's timers; the read model shows wall-clock times.
        onHeartbeat: (heartbeat, receivedAt) => {
          if (takeover.intercept(heartbeat, receivedAt)) return undefined;
          const outcome = fleet.receiveHeartbeat(heartbeat, receivedAt);
          if (outcome === 'fleet-full') return 'fleet-full';
          if (outcome === 'accepted') {
            projector.projection.recordHeartbeat(
              heartbeat.workerId,
              toWallTime(MONOTONIC_CLOCK, receivedAt),
              heartbeat.usage,
            );
            schedulerRole.observeHeartbeat(
              heartbeat,
              receivedAt,
              (workerId) => readModel.allocationOf(workerId).taskIds.length > 0,
            );
          }
          return undefined;
        },
      });
      const drains = new DrainCoordinator({
        fleet,
        tasksHeldBy: (workerId) => readModel.allocationOf(workerId).taskIds.length,
        logger: loggerFor('drain'),
      });
      drainsReady = drains;
      const takeover = new PartitionTakeover({
        jsm,
        js: jetstream(nc),
        readModel,
        projector,
        fleet,
        intake,
        drains: () => drains,
        toKnownWorker,
        controlPlaneId,
        logger: loggerFor('takeover'),
      });
      const settle = settleWorkerEvents({
        publisher,
        jsm,
        readers: [
          (seq) => projector.waitForPosition(seq),
          (seq) => schedulerRole.current?.waitForWorkerPosition(seq) ?? Promise.resolve(),
        ],
      });
      const settleTimeoutMs = Math.floor(config.requestTimeoutMs / 2);
      connection.onChange((connected) => {
        pauseWhileDisconnected(fleet, connected, logger);
        // Nothing is heard while cut off: what the shadows heard before is no measure of silence.
        if (!connected) intake.forgetShadowedHeartbeats();
      });

      leases = new LeaseKeeper({
        kv: leaseBucket,
        member: {
          controlPlaneId,
          host: hostname(),
          pid: process.pid,
          startedAt: Date.now(),
          ...(config.metricsPort > 0 ? { metricsPort: config.metricsPort } : {}),
          ...(config.httpPort > 0 ? { httpPort: config.httpPort } : {}),
        },
        ttlMs: config.leaseTtlMs,
        partitions: ALL_PARTITIONS,
        logger: loggerFor('leases'),
        onAcquired: (role, epoch) =>
          role.kind === 'scheduler' ? schedulerRole.take(epoch) : takeover.take(role.partition, epoch),
        onWatchedPartitions: (partitions) => takeover.shadowOnly(partitions),
        onLost: (role, reason) => {
          if (role.kind === 'scheduler') return schedulerRole.give();
          takeover.give(role.partition, { handedOn: reason === 'released' || reason === 'closing' });
          // Handed on in good order: the next holder must find every event of ours stored.
          if (reason === 'released' || reason === 'closing') return publisher.flush(3_000).then(() => {});
          return undefined;
        },
      });
      const keeper = leases;
      startedParts.push({ name: 'leases', stop: () => keeper.close() });
      startedParts.push({ name: 'scheduler', stop: () => schedulerRole.give() });
      await retryWhileTimingOut('reading the lease bucket', () => keeper.start(), logger);
      // A lone control plane has restored every worker before it says it serves.
      await takeover.settled();
      // The holder answers within its settle timeout; the client waits requestTimeoutMs in all.
      const router = new PartitionRouter({
        nc,
        leases,
        timeoutMs: Math.floor(config.requestTimeoutMs * 0.8),
      });
      const operatorApi = OperatorApi.start({
        nc,
        fleet,
        drains,
        logger: loggerFor('operator'),
        settle,
        settleTimeoutMs,
        router,
      });
      const leaves = new LeaveIntake({
        nc,
        fleet,
        logger: loggerFor('leave'),
        settle,
        settleTimeoutMs,
        router,
      });
      const lagProbe = new ProjectorLagProbe(nc, [
        { stream: WORKER_EVENTS_STREAM, applied: () => projector.position },
        { stream: TASKS_STREAM, applied: () => taskProjector.position },
      ]);
      const roles = () => rolesOf(leases, publisher, fencedBeforeSending);
      metrics.attach({ fleet, intake, publisher, scheduler: schedulerRole, lag: lagProbe, roles });
      health.attach(lagProbe, roles);
      logger.info(
        `serving on ${config.natsUrl} as control plane ${controlPlaneId}: heartbeat timeout ${config.heartbeatTimeoutMs} ms, ` +
          `placement policy ${config.policy}, read model ${readModel.path}; ` +
          `holds ${describeHeld(leases)}`,
      );
      const controlPlane = new ControlPlane({
        nc,
        readModel,
        projector,
        taskProjector,
        fleet,
        publisher,
        schedulerRole,
        leases,
        leaseConnection,
        eventConnection,
        intake,
        operatorApi,
        leaves,
        drains,
        logger,
        alerts,
        metrics,
        metricsServer,
      });
      return controlPlane;
    } catch (error) {
      for (const part of startedParts.reverse()) {
        await Promise.resolve()
          .then(part.stop)
          .catch((stopError: Error) =>
            logger.warn(`stopping the ${part.name} after a failed start: ${stopError.message}`),
          );
      }
      throw error;
    }
  }

  /**
   * Graceful stop: take no more heartbeats, stop the timers and the scheduler, publish the
   * events still queued, let the projectors apply and acknowledge what they hold, then close
   * LMDB and NATS.
   */
  async close(): Promise<void> {
    await this.dashboard?.close();
    await this.operatorApi.close();
    await this.leaves.close();
    await this.metricsServer?.close();
    // Hands every partition and the scheduler on (their last events stored first), so the
    // other control planes take over now rather than after the lease TTL.
    await this.leases.close();
    await this.intake.drain();
    this.drains.close();
    this.fleet.stop();
    await this.schedulerRole.give();
    const { unpublished } = await this.publisher.close(3_000);
    if (unpublished > 0) {
      this.logger.warn(
        `${unpublished} events were not acknowledged before shutdown; they are lost with this process`,
      );
    }
    // The events just stored raised their alerts; the webhook gets a moment to deliver them.
    await this.alerts.close();
    await this.projector.close();
    await this.taskProjector.close();
    await this.readModel.close();
    await this.leaseConnection.drain();
    await this.eventConnection.drain();
    await this.nc.drain();
  }
}

/**
 * While the connection is down the fleet hears no heartbeats, so it must not conclude that
 * workers died: it is suspended on disconnect and resumed, with a full timeout for every
 * worker, on reconnect. Events queued meanwhile are retried by the publisher.
 */
function pauseWhileDisconnected(fleet: Fleet, connected: boolean, logger: Logger): void {
  if (!connected && !fleet.isSuspended) {
    fleet.suspend();
    logger.warn('lost the NATS connection: liveness timers are paused until it is back');
  } else if (connected && fleet.isSuspended) {
    fleet.resume();
    logger.info(`NATS connection is back: ${fleet.size} workers each get a full heartbeat timeout from now`);
  }
}

function toKnownWorker(document: WorkerDocument): KnownWorker {
  return {
    workerId: document.workerId,
    status: document.status,
    seq: document.lastEventSeq,
    lastHeartbeatAt: document.lastHeartbeatAt,
    address: document.address,
    capacity: document.capacity,
    // Documents written before these flags existed have neither.
    flapping: document.flapping ?? false,
    cordoned: document.cordoned ?? false,
    draining: Boolean(document.drain),
    statusSince: document.statusSince,
  };
}

/** An event as it is stored: a worker's on its own subject, a disruption change on the fleet's. */
function eventMessage(event: WorkerStreamEvent): OutgoingMessage {
  const payload = encodeWorkerEvent(event);
  return isDisruptionEvent(event)
    ? {
        subject: DISRUPTION_EVENTS_SUBJECT,
        payload,
        messageId: disruptionEventMessageId(event.seq, event.controlPlane),
      }
    : {
        subject: workerEventSubject(event.workerId),
        payload,
        messageId: workerEventMessageId(event.workerId, event.seq, event.epoch),
      };
}

/** Worker ids never contain a space: no worker can share this key. */
const DISRUPTION_ORDERING_KEY = 'disruption mode';

/** Events are stored in order per worker; disruption changes in order among themselves. */
function orderingKeyOf(event: WorkerStreamEvent): string {
  return isDisruptionEvent(event) ? DISRUPTION_ORDERING_KEY : event.workerId;
}

const SCHEDULER_ROLE: Role = { kind: 'scheduler' };

/**
 * The event with its writer: this control plane, and its lease epoch for the worker's partition.
 * Undefined when it holds that partition no longer: the event must not be written.
 */
function stampWriter(
  event: WorkerStreamEvent,
  controlPlane: string,
  epochOfWorker: (workerId: string) => number | undefined,
): WorkerStreamEvent | undefined {
  if (isDisruptionEvent(event)) return { ...event, controlPlane };
  const epoch = epochOfWorker(event.workerId);
  return epoch === undefined ? undefined : { ...event, controlPlane, epoch };
}

function rolesOf(
  leases: LeaseKeeper,
  publisher: OrderedPublisher,
  fencedBeforeSending: { count: number },
): ControlPlaneRoles {
  const held = leases.heldRoles();
  return {
    controlPlaneId: leases.controlPlaneId,
    partitions: held
      .flatMap(({ role }) => (role.kind === 'partition' ? [role.partition] : []))
      .sort((a, b) => a - b),
    scheduler: held.some(({ role }) => role.kind === 'scheduler'),
    fencedEvents: fencedBeforeSending.count + publisher.stats.fenced,
  };
}

function describeHeld(leases: LeaseKeeper): string {
  const held = leases.heldRoles();
  const partitions = held.flatMap(({ role }) => (role.kind === 'partition' ? [role.partition] : []));
  const scheduler = held.some(({ role }) => role.kind === 'scheduler');
  const parts = [`${partitions.length} of ${ALL_PARTITIONS.length} partitions`];
  if (scheduler) parts.push('the scheduler');
  return parts.join(' and ');
}

function logTransition(logger: Logger, event: WorkerStreamEvent): void {
  const line = describeWorkerEvent(event);
  if (event.type === 'DisruptionStarted') {
    logger.warn(
      `${line}. It looks like a partition near the control plane: no task is requeued either, until ` +
        'heartbeats return or an operator runs `cloudai disruption end`',
    );
  } else if (event.type === 'WorkerFlapping' || event.type === 'DisruptionEnded') logger.warn(line);
  else logger.info(line);
}
