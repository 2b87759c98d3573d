import type { NatsConnection } from '@nats-io/transport-node';
import {
  type Capacity,
  encodeHeartbeat,
  type RunningTaskReport,
  type Usage,
} from '../streams/contracts/heartbeat.js';
import { heartbeatSubject } from '../streams/contracts/subjects.js';

export interface HeartbeatPublisherOptions {
  nc: NatsConnection;
  workerId: string;
  intervalMs: number;
  address: string;
  capacity: Capacity;
  /** Sampled at each beat. */
  usage: () => Usage;
  runningTasks?: () => RunningTaskReport[];
  now?: () => number;
}

/** The worker side of liveness: a heartbeat on `heartbeat.<id>` now, then every `intervalMs`, until stopped. */
export class HeartbeatPublisher {
  private timer?: NodeJS.Timeout;
  private seq = 0;

  constructor(private readonly options: HeartbeatPublisherOptions) {}

  start(): void {
    if (this.timer) return;
    this.beat();
    this.timer = setInterval(() => this.beat(), this.options.intervalMs);
  }

  /** Sends one heartbeat at once (besides the regular ones). */
  beat(): void {
    const { nc, workerId, address, capacity } = this.options;
    if (nc.isClosed()) return;
    this.seq++;
    nc.publish(
      heartbeatSubject(workerId),
      encodeHeartbeat({
        workerId,
        sentAt: (this.options.now ?? Date.now)(),
        seq: this.seq,
        address,
        capacity,
        usage: this.options.usage(),
        runningTasks: this.options.runningTasks?.() ?? [],
      }),
    );
  }

  get sent(): number {
    return this.seq;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
