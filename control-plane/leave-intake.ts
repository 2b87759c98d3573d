import type { Msg, Subscription } from '@nats-io/transport-node';
import type { OperatorOutcome } from '../actors/liveness-settings.js';
import type { OperatorReply } from '../streams/contracts/operator-requests.js';
import { WORKER_LEAVE_WILDCARD, workerLeaveSubject } from '../streams/contracts/subjects.js';
import type { StoppedAttempt } from '../streams/contracts/worker-events.js';
import { leaveRequestSchema, MAX_LEAVE_REQUEST_BYTES } from '../streams/contracts/worker-leave.js';
import { serveJsonRequests } from '../streams/nats/request-reply.js';
import { decodeJson } from '../streams/util/json-codec.js';
import { RateLimitedLog } from '../streams/util/logger.js';
import type { SettledRepliesOptions, WorkerRouter } from './operator-api.js';

/** What a leaving worker asks of the fleet (`Fleet` has it). */
export interface LeaveControls {
  leave(workerId: string, stoppedAttempts: readonly StoppedAttempt[]): OperatorOutcome;
}

export interface LeaveIntakeOptions extends SettledRepliesOptions {
  fleet: LeaveControls;
  /** With several control planes: a leave of a worker another one holds goes there. */
  router?: WorkerRouter;
}

const LEAVE_QUEUE_GROUP = 'cloudai-leave';

/**
 * Hears workers announce that they stop (`workers.leave.<id>`) and hands the leave to the
 * fleet. The subject's token is the identity, as for heartbeats: the server lets only that
 * worker publish there, and a payload naming another worker is refused and counted.
 */
export class LeaveIntake {
  /** left: the fleet recorded it; refused: the fleet said no; rejected: malformed or spoofed. */
  readonly stats = { left: 0, refused: 0, rejected: 0 };
  private readonly log: RateLimitedLog;
  private readonly subscriptions: Subscription[] = [];

  constructor(private readonly options: LeaveIntakeOptions) {
    this.log = new RateLimitedLog(options.logger);
    const onFailure = (error: Error): OperatorReply => ({
      ok: false,
      error: `the control plane failed: ${error.message}`,
    });
    this.subscriptions.push(
      serveJsonRequests<OperatorReply>(options.nc, WORKER_LEAVE_WILDCARD, {
        queue: LEAVE_QUEUE_GROUP,
        logger: options.logger,
        handle: (msg) => this.handle(msg, false),
        onFailure,
      }),
    );
    if (options.router) {
      this.subscriptions.push(
        serveJsonRequests<OperatorReply>(options.nc, options.router.directSubject(WORKER_LEAVE_WILDCARD), {
          logger: options.logger,
          handle: (msg) => this.handle(msg, true),
          onFailure,
        }),
      );
    }
  }

  async close(): Promise<void> {
    for (const subscription of this.subscriptions) {
      if (!subscription.isClosed()) await subscription.drain();
    }
  }

  private async handle(msg: Msg, forwarded: boolean): Promise<OperatorReply> {
    const sender = msg.subject.slice(msg.subject.lastIndexOf('.') + 1);
    if (msg.data.length > MAX_LEAVE_REQUEST_BYTES) {
      return this.reject(
        sender,
        `leave of ${msg.data.length} bytes refused: at most ${MAX_LEAVE_REQUEST_BYTES}`,
      );
    }
    const decoded = decodeJson(msg.data, leaveRequestSchema);
    if (!decoded.ok) return this.reject(sender, `malformed leave: ${decoded.detail}`);
    const { workerId, stoppedAttempts } = decoded.value;
    if (workerId !== sender) {
      return this.reject(sender, `a worker announces only its own leave (this one names ${workerId})`);
    }
    const { router } = this.options;
    if (router && !router.isLocal(workerId)) {
      return forwarded
        ? { ok: false, error: `worker ${workerId} moved to another control plane meanwhile: retry` }
        : router.forward(workerId, workerLeaveSubject(workerId), msg.data);
    }
    const outcome = this.options.fleet.leave(workerId, stoppedAttempts);
    if (!outcome.ok) {
      this.stats.refused++;
      return outcome;
    }
    this.stats.left++;
    await this.options.settle(this.options.settleTimeoutMs);
    return { ok: true };
  }

  private reject(sender: string, error: string): { ok: false; error: string } {
    this.stats.rejected++;
    this.log.warn(`rejected-leave-${sender}`, `refused a leave on workers.leave.${sender}: ${error}`);
    return { ok: false, error };
  }
}
