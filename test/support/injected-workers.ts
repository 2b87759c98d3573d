import { type JetStreamClient, jetstream } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Resources } from '../../projections/resources.js';
import {
  DISRUPTION_EVENTS_SUBJECT,
  disruptionEventMessageId,
  workerEventMessageId,
  workerEventSubject,
} from '../../streams/contracts/subjects.js';
import {
  type DisruptionEvent,
  encodeWorkerEvent,
  type WorkerEvent,
} from '../../streams/contracts/worker-events.js';
import { silentLogger } from '../../streams/util/logger.js';
import { TaskAgent } from '../../worker/task-agent.js';

/** The fields of an event type besides those every worker event carries. */
type FieldsOf<Type extends WorkerEvent['type']> = Omit<
  Extract<WorkerEvent, { type: Type }>,
  'type' | 'workerId' | 'at' | 'seq'
>;

/**
 * A worker whose WORKER_EVENTS the test writes itself, as the fleet would (numbered per worker
 * from 1, `Nats-Msg-Id: <id>:<seq>`), and which never heartbeats, so the fleet never learns of it
 * and never writes events of its own for it. Its task agent (unless `agent: false`) runs what
 * the scheduler assigns, like a real worker's.
 */
export class InjectedWorker {
  agent: TaskAgent | undefined;
  private seq = 0;
  private readonly js: JetStreamClient;

  constructor(
    private readonly nc: NatsConnection,
    readonly workerId: string,
    readonly capacity: Resources,
    private readonly taskMs: number,
  ) {
    this.js = jetstream(nc);
  }

  /** Starts its task agent: it acknowledges and runs what is assigned to it from now on. */
  startAgent(): void {
    if (this.agent) return;
    this.agent = new TaskAgent({
      nc: this.nc,
      workerId: this.workerId,
      capacity: this.capacity,
      simulateMs: this.taskMs,
      logger: silentLogger,
    });
    this.agent.start();
  }

  async stopAgent(): Promise<void> {
    await this.agent?.close();
    this.agent = undefined;
  }

  register(): Promise<number> {
    return this.emit('WorkerRegistered', { address: `${this.workerId}.test:50052`, capacity: this.capacity });
  }

  suspect(): Promise<number> {
    return this.emit('WorkerSuspected', {
      lastHeartbeatAt: Date.now() - 1_000,
      silentForMs: 1_000,
      suspectAfterMs: 1_000,
      phi: null,
    });
  }

  recover(): Promise<number> {
    return this.emit('WorkerRecovered', { lastHeartbeatAt: Date.now() });
  }

  inactive(): Promise<number> {
    return this.emit('WorkerInactive', { lastHeartbeatAt: Date.now() - 5_000, silentForMs: 5_000 });
  }

  activate(): Promise<number> {
    return this.emit('WorkerActivated', { lastHeartbeatAt: Date.now() });
  }

  flapping(): Promise<number> {
    return this.emit('WorkerFlapping', { comebacks: 4, windowMs: 600_000, holdDownMs: 300_000 });
  }

  stabilized(): Promise<number> {
    return this.emit('WorkerStabilized', { stableForMs: 300_000 });
  }

  cordon(): Promise<number> {
    return this.emit('WorkerCordoned', {});
  }

  uncordon(): Promise<number> {
    return this.emit('WorkerUncordoned', {});
  }

  remove(): Promise<number> {
    return this.emit('WorkerRemoved', {});
  }

  /** Stores the worker's next event; resolves with its stream sequence. */
  private async emit<Type extends WorkerEvent['type']>(type: Type, fields: FieldsOf<Type>): Promise<number> {
    this.seq++;
    const event = { type, workerId: this.workerId, at: Date.now(), seq: this.seq, ...fields } as WorkerEvent;
    const ack = await this.js.publish(workerEventSubject(this.workerId), encodeWorkerEvent(event), {
      msgID: workerEventMessageId(this.workerId, this.seq),
    });
    if (ack.duplicate) throw new Error(`${this.workerId}:${this.seq} was already in the stream`);
    return ack.seq;
  }
}

/**
 * Disruption events written by the test, numbered from `lastSeq` + 1 as the fleet numbers them
 * (`Nats-Msg-Id: disruption:<seq>`).
 */
export class InjectedDisruption {
  private readonly js: JetStreamClient;

  constructor(
    nc: NatsConnection,
    private seq = 0,
  ) {
    this.js = jetstream(nc);
  }

  start(unhealthyWorkers: number, consideredWorkers: number): Promise<number> {
    return this.emit({
      type: 'DisruptionStarted',
      at: Date.now(),
      seq: this.seq + 1,
      unhealthyWorkers,
      consideredWorkers,
      thresholdPercent: 55,
    });
  }

  end(): Promise<number> {
    return this.emit({ type: 'DisruptionEnded', at: Date.now(), seq: this.seq + 1, endedBy: 'operator' });
  }

  private async emit(event: DisruptionEvent): Promise<number> {
    this.seq = event.seq;
    const ack = await this.js.publish(DISRUPTION_EVENTS_SUBJECT, encodeWorkerEvent(event), {
      msgID: disruptionEventMessageId(event.seq),
    });
    if (ack.duplicate) throw new Error(`disruption:${event.seq} was already in the stream`);
    return ack.seq;
  }
}
