import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { Fleet } from '../actors/fleet.js';
import type { KnownWorker } from '../actors/liveness-machine.js';
import { ReadModel } from '../projections/read-model.js';
import type { WorkerDocument } from '../projections/worker-document.js';
import { WorkerProjector } from '../projections/worker-projector.js';
import { connectToNats, type NatsCredentials } from '../streams/connection.js';
import { HeartbeatIntake } from '../streams/heartbeat-intake.js';
import { createConsoleLogger, type Logger } from '../streams/logger.js';
import { OrderedPublisher } from '../streams/ordered-publisher.js';
import { WORKER_EVENTS_STREAM, workerEventMessageId, workerEventSubject } from '../streams/subjects.js';
import { encodeWorkerEvent, type WorkerEvent } from '../streams/worker-events.js';
import { ensureWorkerEventsStream } from '../streams/worker-events-stream.js';
import type { Config } from './config.js';

export interface ControlPlaneOptions {
  config: Config;
  credentials?: NatsCredentials;
  /** Defaults to console loggers per component. */
  logger?: (component: string) => Logger;
  /** Called for each transition as the fleet emits it, before it is published (benchmarks time detection with it). */
  onTransition?: (event: WorkerEvent) => void;
  /** Called after each event is acknowledged by JetStream (tests and benchmarks observe with it). */
  onEventStored?: (event: WorkerEvent, streamSeq: number) => void;
}

/**
 * `cloudai serve`: the fleet of liveness actors fed by heartbeats, the publisher that turns
 * their transitions into WORKER_EVENTS, and the projector that folds those into the read model.
 */
export class ControlPlane {
  private constructor(
    readonly nc: NatsConnection,
    readonly readModel: ReadModel,
    readonly projector: WorkerProjector,
    readonly fleet: Fleet,
    readonly publisher: OrderedPublisher,
    readonly intake: HeartbeatIntake,
    private readonly logger: Logger,
  ) {}

  static async start(options: ControlPlaneOptions): Promise<ControlPlane> {
    const { config } = options;
    const loggerFor = options.logger ?? createConsoleLogger;
    const logger = loggerFor('serve');
    const nc = await connectToNats({
      url: config.natsUrl,
      name: 'cloudai-serve',
      credentials: options.credentials,
    });
    try {
      const jsm = await jetstreamManager(nc);
      await ensureWorkerEventsStream(jsm);
      const readModel = ReadModel.open({ dataDir: config.dataDir });
      const projector = await WorkerProjector.start({ nc, readModel, logger: loggerFor('projector') });

      // The fleet continues each worker's event numbering, so the read model must hold every
      // event already in the stream before the actors are rebuilt from it.
      const lastSeq = (await jsm.streams.info(WORKER_EVENTS_STREAM)).state.last_seq;
      await projector.waitForPosition(lastSeq);

      const publisher = new OrderedPublisher({ js: jetstream(nc), logger: loggerFor('publisher') });
      const fleet = new Fleet({
        heartbeatTimeoutMs: config.heartbeatTimeoutMs,
        maxWorkers: config.maxWorkers,
        onEvent: (event) => {
          options.onTransition?.(event);
          logTransition(logger, event);
          publisher
            .publish(event.workerId, {
              subject: workerEventSubject(event.workerId),
              payload: encodeWorkerEvent(event),
              messageId: workerEventMessageId(event.workerId, event.seq),
            })
            .then((streamSeq) => options.onEventStored?.(event, streamSeq))
            .catch((error: Error) =>
              logger.warn(`event ${event.type} of ${event.workerId} not stored: ${error.message}`),
            );
        },
      });
      const known = readModel.listWorkers().map(toKnownWorker);
      fleet.restore(known, Date.now());
      if (known.length > 0) {
        logger.info(
          `restored ${known.length} workers from the read model; active ones get a full timeout from now`,
        );
      }

      const intake = new HeartbeatIntake({
        nc,
        logger: loggerFor('heartbeats'),
        maxHeartbeatBytes: config.maxHeartbeatBytes,
        onHeartbeat: (heartbeat, receivedAt) => {
          const outcome = fleet.receiveHeartbeat(heartbeat, receivedAt);
          if (outcome === 'fleet-full') return 'fleet-full';
          if (outcome === 'accepted')
            projector.recordHeartbeat(heartbeat.workerId, receivedAt, heartbeat.usage);
          return undefined;
        },
      });
      void watchConnection(nc, fleet, logger);
      logger.info(
        `serving on ${config.natsUrl}: heartbeat timeout ${config.heartbeatTimeoutMs} ms, read model ${readModel.path}`,
      );
      return new ControlPlane(nc, readModel, projector, fleet, publisher, intake, logger);
    } catch (error) {
      await nc.close();
      throw error;
    }
  }

  /**
   * Graceful stop: take no more heartbeats, stop the timers, publish the events still queued,
   * let the projector apply and acknowledge what it holds, then close LMDB and NATS.
   */
  async close(): Promise<void> {
    await this.intake.drain();
    this.fleet.stop();
    const { unpublished } = await this.publisher.close(3_000);
    if (unpublished > 0) {
      this.logger.warn(
        `${unpublished} events were not acknowledged before shutdown; they are lost with this process`,
      );
    }
    await this.projector.close();
    await this.readModel.close();
    await this.nc.drain();
  }
}

/**
 * While the connection is down the fleet hears no heartbeats, so it must not conclude that
 * workers died: it is suspended on disconnect and resumed, with a full timeout for every
 * worker, on reconnect. Events queued meanwhile are retried by the publisher.
 */
async function watchConnection(nc: NatsConnection, fleet: Fleet, logger: Logger): Promise<void> {
  for await (const status of nc.status()) {
    if (status.type === 'disconnect' && !fleet.isSuspended) {
      fleet.suspend();
      logger.warn('lost the NATS connection: liveness timers are paused until it is back');
    } else if (status.type === 'reconnect' && fleet.isSuspended) {
      fleet.resume(Date.now());
      logger.info(
        `NATS connection is back: ${fleet.size} workers each get a full heartbeat timeout from now`,
      );
    }
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
  };
}

function logTransition(logger: Logger, event: WorkerEvent): void {
  switch (event.type) {
    case 'WorkerRegistered':
      logger.info(`worker ${event.workerId} registered (${event.address || 'no address'})`);
      break;
    case 'WorkerActivated':
      logger.info(`worker ${event.workerId} is active again`);
      break;
    case 'WorkerInactive':
      logger.info(`worker ${event.workerId} is inactive: no heartbeat for ${event.silentForMs} ms`);
      break;
    case 'WorkerCapacityChanged':
      logger.info(`worker ${event.workerId} changed capacity or address`);
      break;
  }
}
