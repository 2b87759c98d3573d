import type { JetStreamManager } from '@nats-io/jetstream';
import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
import type { z } from 'zod';
import type { OperatorOutcome } from '../actors/liveness-settings.js';
import {
  disruptionEndRequestSchema,
  drainRequestSchema,
  MAX_OPERATOR_REQUEST_BYTES,
  type OperatorReply,
  workerRequestSchema,
} from '../streams/contracts/operator-requests.js';
import {
  DISRUPTION_END_SUBJECT,
  ID_RULE,
  isValidWorkerId,
  WORKER_CORDON_SUBJECT,
  WORKER_DRAIN_CANCEL_SUBJECT,
  WORKER_DRAIN_SUBJECT,
  WORKER_EVENTS_STREAM,
  WORKER_REMOVE_SUBJECT,
  WORKER_UNCORDON_SUBJECT,
} from '../streams/contracts/subjects.js';
import type { OrderedPublisher } from '../streams/nats/ordered-publisher.js';
import { serveJsonRequests } from '../streams/nats/request-reply.js';
import { type StreamReader, waitForStreamEnd } from '../streams/nats/stream-end.js';
import { decodeJson, encodeJson } from '../streams/util/json-codec.js';
import { type Logger, RateLimitedLog } from '../streams/util/logger.js';
import { raceTimeout } from '../streams/util/timeout.js';
import type { DrainControls } from './drain-coordinator.js';

/** What an operator may ask of the fleet (`Fleet` has these). */
export interface OperatorControls {
  cordon(workerId: string): OperatorOutcome;
  uncordon(workerId: string): OperatorOutcome;
  remove(workerId: string): OperatorOutcome;
  endDisruption(): OperatorOutcome;
}

/** What a service that answers requests to change the fleet needs: it replies once the change is settled. */
export interface SettledRepliesOptions {
  nc: NatsConnection;
  /**
   * Resolves once the events the fleet has emitted so far are stored and applied (by the read
   * model and the scheduler), or after `timeoutMs`: a reply then means `cloudai workers` and
   * the next submission already see the change.
   */
  settle: (timeoutMs: number) => Promise<void>;
  settleTimeoutMs: number;
  logger: Logger;
}

export interface OperatorApiOptions extends SettledRepliesOptions {
  fleet: OperatorControls;
  drains: DrainControls;
  /** With several control planes: requests about a worker another one holds go there. */
  router?: WorkerRouter;
}

/** What the API needs of a PartitionRouter. */
export interface WorkerRouter {
  directSubject(subject: string): string;
  isLocal(workerId: string): boolean;
  forward(workerId: string, subject: string, payload: Uint8Array): Promise<OperatorReply>;
  broadcast(subject: string, payload: Uint8Array): Promise<OperatorReply[]>;
}

/** A request from a client (public), or forwarded by another control plane to this one (direct). */
type Via = 'public' | 'direct';

/** One control plane answers each request, should a second one ever listen. */
const OPERATOR_QUEUE_GROUP = 'cloudai-operator';

/** What an operator may do to one worker. */
export type WorkerAction = 'cordon' | 'uncordon' | 'remove' | 'drain-cancel';

/** What the operator's actions act on: the fleet's controls and the drains under way. */
export interface WorkerControls {
  fleet: OperatorControls;
  drains: DrainControls;
}

export const WORKER_ACTIONS: Record<
  WorkerAction,
  { subject: string; verb: string; act: (controls: WorkerControls, workerId: string) => OperatorOutcome }
> = {
  cordon: {
    subject: WORKER_CORDON_SUBJECT,
    verb: 'cordoned',
    act: ({ fleet }, workerId) => fleet.cordon(workerId),
  },
  uncordon: {
    subject: WORKER_UNCORDON_SUBJECT,
    verb: 'uncordoned',
    act: ({ fleet }, workerId) => fleet.uncordon(workerId),
  },
  remove: {
    subject: WORKER_REMOVE_SUBJECT,
    verb: 'removed',
    act: ({ fleet }, workerId) => fleet.remove(workerId),
  },
  'drain-cancel': {
    subject: WORKER_DRAIN_CANCEL_SUBJECT,
    verb: 'no longer draining',
    act: ({ drains }, workerId) => drains.cancel(workerId),
  },
};

/**
 * The operator's front door to the fleet (`workers.api.*`, request/reply): cordon, uncordon
 * and remove a worker, end disruption mode. Requests are validated here; the fleet decides
 * and turns each change into an event. Malformed requests get an error reply and are counted;
 * nothing a client sends can stop the control plane.
 */
export class OperatorApi {
  /** done: the fleet acted; refused: the fleet said no; rejected: the request was malformed. */
  readonly stats = { done: 0, refused: 0, rejected: 0 };
  private readonly subscriptions: Subscription[] = [];
  private readonly log: RateLimitedLog;

  private constructor(private readonly options: OperatorApiOptions) {
    this.log = new RateLimitedLog(options.logger);
  }

  static start(options: OperatorApiOptions): OperatorApi {
    const api = new OperatorApi(options);
    for (const action of Object.keys(WORKER_ACTIONS) as WorkerAction[]) {
      api.serve(WORKER_ACTIONS[action].subject, (msg, via) => api.handleWorkerRequest(msg, action, via));
    }
    api.serve(DISRUPTION_END_SUBJECT, (msg, via) => api.handleDisruptionEnd(msg, via));
    api.serve(WORKER_DRAIN_SUBJECT, (msg, via) => api.handleDrain(msg, via));
    return api;
  }

  async close(): Promise<void> {
    for (const subscription of this.subscriptions) {
      if (!subscription.isClosed()) await subscription.drain();
    }
  }

  private serve(subject: string, handle: (msg: Msg, via: Via) => Promise<OperatorReply>): void {
    const { nc, logger, router } = this.options;
    const onFailure = (error: Error): OperatorReply => ({
      ok: false,
      error: `the control plane failed: ${error.message}`,
    });
    this.subscriptions.push(
      serveJsonRequests<OperatorReply>(nc, subject, {
        queue: OPERATOR_QUEUE_GROUP,
        logger,
        handle: (msg) => handle(msg, 'public'),
        onFailure,
      }),
    );
    if (router) {
      this.subscriptions.push(
        serveJsonRequests<OperatorReply>(nc, router.directSubject(subject), {
          logger,
          handle: (msg) => handle(msg, 'direct'),
          onFailure,
        }),
      );
    }
  }

  /**
   * Acts here if this control plane judges the worker; otherwise forwards the request to the
   * one that does (a forwarded request is never forwarded again).
   */
  private route(
    workerId: string,
    subject: string,
    payload: unknown,
    via: Via,
    act: () => Promise<OperatorReply>,
  ) {
    const { router } = this.options;
    if (!router || router.isLocal(workerId)) return act();
    if (via === 'direct') {
      return Promise.resolve<OperatorReply>({
        ok: false,
        error: `worker ${workerId} moved to another control plane meanwhile: retry`,
      });
    }
    return router.forward(workerId, subject, encodeJson(payload));
  }

  /**
   * Cordons, uncordons or removes a worker, or cancels its drain, as a request on NATS would,
   * and answers once the change is applied (or refused, with the fleet's reason). The web
   * dashboard's actions come here.
   */
  act(action: WorkerAction, workerId: string, via: Via = 'public'): Promise<OperatorReply> {
    const { subject, verb, act } = WORKER_ACTIONS[action];
    if (!isValidWorkerId(workerId)) return Promise.resolve(this.rejectWorkerId(subject, workerId));
    return this.route(workerId, subject, { workerId }, via, () =>
      this.apply(act(this.options, workerId), `worker ${workerId} ${verb}`),
    );
  }

  /** Starts a drain with this deadline, as `cloudai workers drain` does. */
  drain(workerId: string, deadlineMs: number, via: Via = 'public'): Promise<OperatorReply> {
    if (!isValidWorkerId(workerId))
      return Promise.resolve(this.rejectWorkerId(WORKER_DRAIN_SUBJECT, workerId));
    return this.route(workerId, WORKER_DRAIN_SUBJECT, { workerId, deadlineMs }, via, () =>
      this.apply(
        this.options.drains.start(workerId, deadlineMs),
        `worker ${workerId} draining, deadline in ${deadlineMs} ms`,
      ),
    );
  }

  private async handleWorkerRequest(msg: Msg, action: WorkerAction, via: Via): Promise<OperatorReply> {
    const decoded = this.decode(msg, workerRequestSchema);
    if (!decoded.ok) return decoded;
    return this.act(action, decoded.value.workerId, via);
  }

  private async handleDrain(msg: Msg, via: Via): Promise<OperatorReply> {
    const decoded = this.decode(msg, drainRequestSchema);
    if (!decoded.ok) return decoded;
    return this.drain(decoded.value.workerId, decoded.value.deadlineMs, via);
  }

  /**
   * Each control plane runs disruption mode over the workers it judges: the request ends it
   * wherever it is on. Done if any ended it; otherwise this control plane's refusal.
   */
  private async handleDisruptionEnd(msg: Msg, via: Via): Promise<OperatorReply> {
    const decoded = this.decode(msg, disruptionEndRequestSchema);
    if (!decoded.ok) return decoded;
    const { router } = this.options;
    const others =
      via === 'public' && router ? router.broadcast(DISRUPTION_END_SUBJECT, msg.data) : Promise.resolve([]);
    const here = await this.apply(this.options.fleet.endDisruption(), 'disruption mode ended');
    const elsewhere = await others;
    return here.ok || !elsewhere.some((reply) => reply.ok) ? here : { ok: true };
  }

  private async apply(outcome: OperatorOutcome, done: string): Promise<OperatorReply> {
    if (!outcome.ok) {
      this.stats.refused++;
      return outcome;
    }
    this.stats.done++;
    this.options.logger.info(`operator: ${done}`);
    await this.options.settle(this.options.settleTimeoutMs);
    return { ok: true };
  }

  private decode<Schema extends z.ZodType>(
    msg: Msg,
    schema: Schema,
  ): { ok: true; value: z.infer<Schema> } | { ok: false; error: string } {
    if (msg.data.length > MAX_OPERATOR_REQUEST_BYTES) {
      return this.reject(
        msg.subject,
        `request of ${msg.data.length} bytes refused: at most ${MAX_OPERATOR_REQUEST_BYTES} bytes`,
      );
    }
    const decoded = decodeJson(msg.data, schema);
    if (!decoded.ok) return this.reject(msg.subject, `malformed request: ${decoded.detail}`);
    return { ok: true, value: decoded.value };
  }

  private rejectWorkerId(subject: string, workerId: string): { ok: false; error: string } {
    return this.reject(subject, `worker id ${JSON.stringify(workerId)} is invalid: use ${ID_RULE}`);
  }

  private reject(subject: string, error: string): { ok: false; error: string } {
    this.stats.rejected++;
    this.log.warn(`rejected-${subject}`, `refused a request on ${subject}: ${error}`);
    return { ok: false, error };
  }
}

/**
 * `settle` for the operator API: waits until the publisher has stored every event queued so
 * far, then until each reader (the read model, the scheduler) has applied WORKER_EVENTS up to
 * the stream's end as it was then. Gives up quietly after `timeoutMs`: the change is made and
 * its event on its way; only the reply comes sooner.
 */
export function settleWorkerEvents(parts: {
  publisher: OrderedPublisher;
  jsm: JetStreamManager;
  readers: readonly StreamReader[];
}): (timeoutMs: number) => Promise<void> {
  return async (timeoutMs) => {
    const settled = (async () => {
      await parts.publisher.flush(timeoutMs);
      await waitForStreamEnd(parts.jsm, WORKER_EVENTS_STREAM, parts.readers);
    })().catch(() => {});
    await raceTimeout(settled, timeoutMs, () => undefined);
  };
}
