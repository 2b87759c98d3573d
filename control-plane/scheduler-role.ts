import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import type { SchedulerService } from '../scheduler/scheduler-service.js';
import { decodeHeartbeat, type Heartbeat } from '../streams/contracts/heartbeat.js';
import { heartbeatSubject, TASK_CANCEL_SUBJECT } from '../streams/contracts/subjects.js';
import { type CancelReply, cancelReplySchema } from '../streams/contracts/task-events.js';
import { MONOTONIC_CLOCK } from '../streams/util/clock.js';
import { decodeJson, encodeJson } from '../streams/util/json-codec.js';
import type { Logger } from '../streams/util/logger.js';

/**
 * Heartbeats that tell the scheduler something (a worker that runs or holds tasks), passed on by
 * the control plane that judges the worker to the one that schedules, when they differ.
 * Control planes only: no worker or CLI identity may publish under `cloudai.`.
 */
const RELAYED_HEARTBEATS = 'cloudai.scheduler.heartbeats';

export interface SchedulerRoleOptions {
  nc: NatsConnection;
  logger: Logger;
  /** Starts the scheduler under this lease epoch from the read model, once caught up with both streams. */
  start: (epoch: number) => Promise<SchedulerService>;
  maxHeartbeatBytes: number;
  requestTimeoutMs: number;
}

/**
 * The scheduler runs in one control plane at a time, the holder of the scheduler lease: this
 * starts it when the lease comes and stops it when the lease goes. Whatever else needs it
 * (metrics, the dashboard, the lost-task watch fed by heartbeats) goes through here.
 */
export class SchedulerRole {
  private scheduler: SchedulerService | undefined;
  private relay: Subscription | undefined;
  private starting: Promise<void> | undefined;

  constructor(private readonly options: SchedulerRoleOptions) {}

  /** The running scheduler, if this control plane holds the role. */
  get current(): SchedulerService | undefined {
    return this.scheduler;
  }

  take(epoch: number): Promise<void> {
    this.starting ??= (async () => {
      const scheduler = await this.options.start(epoch);
      this.scheduler = scheduler;
      this.relay = this.options.nc.subscribe(`${RELAYED_HEARTBEATS}.*`, {
        callback: (error, msg) => {
          if (error) return;
          const workerId = msg.subject.slice(RELAYED_HEARTBEATS.length + 1);
          const decoded = decodeHeartbeat(
            heartbeatSubject(workerId),
            msg.data,
            this.options.maxHeartbeatBytes,
          );
          if (decoded.ok) scheduler.observeHeartbeat(decoded.heartbeat, MONOTONIC_CLOCK.now());
        },
      });
    })().finally(() => {
      this.starting = undefined;
    });
    return this.starting;
  }

  /** Stops scheduling at once (nothing more is written: the decision publisher is fenced too), then closes. */
  async give(): Promise<void> {
    await this.starting?.catch(() => {});
    const scheduler = this.scheduler;
    this.scheduler = undefined;
    this.relay?.unsubscribe();
    this.relay = undefined;
    await scheduler?.close();
  }

  /**
   * A heartbeat accepted by this control plane's fleet: the scheduler compares what the worker
   * runs with what the log placed there. Where the scheduler runs elsewhere, only heartbeats
   * that can matter to it travel: those of workers that run or hold tasks.
   */
  observeHeartbeat(
    heartbeat: Heartbeat,
    receivedAt: number,
    holdsTasks: (workerId: string) => boolean,
  ): void {
    if (this.scheduler) {
      this.scheduler.observeHeartbeat(heartbeat, receivedAt);
      return;
    }
    if (heartbeat.runningTasks.length === 0 && !holdsTasks(heartbeat.workerId)) return;
    this.options.nc.publish(`${RELAYED_HEARTBEATS}.${heartbeat.workerId}`, encodeJson(heartbeat));
  }

  get queueLength(): number {
    return this.scheduler?.queueLength ?? 0;
  }

  get stats(): { assigned: number } {
    return { assigned: this.scheduler?.stats.assigned ?? 0 };
  }

  waitReasonOf(taskId: string): string | undefined {
    return this.scheduler?.waitReasonOf(taskId);
  }

  /** Cancels here if the scheduler runs here, else asks the one that runs it, as the CLI would. */
  async cancel(taskId: string): Promise<CancelReply> {
    if (this.scheduler) return this.scheduler.cancel(taskId);
    try {
      const reply = await this.options.nc.request(TASK_CANCEL_SUBJECT, encodeJson({ taskId }), {
        timeout: this.options.requestTimeoutMs,
      });
      const decoded = decodeJson(reply.data, cancelReplySchema);
      return decoded.ok
        ? decoded.value
        : { ok: false, error: `the scheduler answered garbage: ${decoded.detail}` };
    } catch (error) {
      return {
        ok: false,
        error: `the scheduler did not answer (${(error as Error).message}): retry in a few seconds`,
      };
    }
  }
}
