import type { JsMsg } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { StreamFollower } from '../streams/nats/stream-follower.js';
import { type Logger, RateLimitedLog } from '../streams/util/logger.js';
import { PositionWaiters } from './position-waiters.js';
import type { ReadModel } from './read-model.js';
import { type InvalidEventHandler, invalidEventMessage, type StreamMessage } from './stream-batch.js';

/** What every projector counts; a projection may count more (all numbers, summed batch by batch). */
export interface ProjectionStats {
  applied: number;
  duplicates: number;
  invalid: number;
}

/** One stream's fold into the read model, as a projector runs it. */
export interface Projection<Stats extends ProjectionStats> {
  readonly stream: string;
  emptyStats(): Stats;
  /** Folds a batch into the read model in one transaction, with the new stream position. */
  applyBatch(
    readModel: ReadModel,
    messages: readonly StreamMessage[],
    onInvalid: InvalidEventHandler,
  ): Promise<Stats>;
  /**
   * Input kept apart from the stream (heartbeat samples) that the next batch writes: while it
   * waits, a batch is forced every `flushEveryMs` even when the stream is quiet.
   */
  readonly waitingInput?: {
    flushEveryMs: number;
    isWaiting(): boolean;
    /** More waits than one batch writes: the next batch follows at once. */
    isBacklogged(): boolean;
  };
}

export interface ProjectorOptions {
  nc: NatsConnection;
  readModel: ReadModel;
  logger: Logger;
}

/**
 * Runs a projection: follows its stream from the position stored in the read model, applies
 * batch by batch (the position is stored in the same transaction, so each event is applied
 * exactly once across crashes), and tells waiters how far it got.
 */
export class ProjectorRunner<Stats extends ProjectionStats, P extends Projection<Stats> = Projection<Stats>> {
  readonly stats: Stats;
  private readonly positionWaiters = new PositionWaiters();
  private readonly appliedListeners = new Set<(batch: BatchOf<P>) => void>();
  private readonly invalidLog: RateLimitedLog;
  private follower?: StreamFollower;
  private flushTimer?: NodeJS.Timeout;

  private constructor(
    private readonly options: ProjectorOptions,
    readonly projection: P,
  ) {
    this.stats = projection.emptyStats();
    this.invalidLog = new RateLimitedLog(options.logger);
  }

  static async start<Stats extends ProjectionStats, P extends Projection<Stats>>(
    options: ProjectorOptions,
    projection: P & Projection<Stats>,
  ): Promise<ProjectorRunner<Stats, P>> {
    const runner = new ProjectorRunner<Stats, P>(options, projection);
    const follower = await StreamFollower.start({
      nc: options.nc,
      stream: projection.stream,
      identity: options.readModel.path,
      startAfter: options.readModel.position(projection.stream),
      logger: options.logger,
      applyBatch: (messages) => runner.applyBatch(messages),
    });
    runner.follower = follower;
    const { waitingInput } = projection;
    if (waitingInput) {
      runner.flushTimer = setInterval(() => {
        if (waitingInput.isWaiting()) follower.requestFlush();
      }, waitingInput.flushEveryMs);
    }
    return runner;
  }

  /** The last stream sequence stored in the read model. */
  get position(): number {
    return this.options.readModel.position(this.projection.stream);
  }

  /** Resolves once the read model has applied the stream up to `streamSeq`. */
  waitForPosition(streamSeq: number): Promise<void> {
    return this.positionWaiters.wait(streamSeq, this.position);
  }

  /**
   * Calls `listener` after each batch is committed, with what the projection says it applied
   * (a reader in this process sees it from then on). Returns the unsubscribe.
   */
  onApplied(listener: (batch: BatchOf<P>) => void): () => void {
    this.appliedListeners.add(listener);
    return () => this.appliedListeners.delete(listener);
  }

  /** Stops following; the batch in hand is applied and acknowledged first. */
  async close(): Promise<void> {
    clearInterval(this.flushTimer);
    await this.follower?.close();
  }

  private async applyBatch(messages: JsMsg[]): Promise<void> {
    const { stream } = this.projection;
    const result = await this.projection.applyBatch(this.options.readModel, messages, (streamSeq, detail) =>
      this.invalidLog.warn('invalid', invalidEventMessage(stream, streamSeq, detail)),
    );
    for (const key of Object.keys(this.stats) as Array<keyof Stats>) {
      (this.stats[key] as number) += result[key] as number;
    }
    this.positionWaiters.reached(this.position);
    if (this.projection.waitingInput?.isBacklogged()) this.follower?.requestFlush();
    for (const listener of this.appliedListeners) {
      try {
        listener(result as BatchOf<P>);
      } catch (error) {
        // A reader of the batches must never stop the projection.
        this.invalidLog.warn(
          'listener',
          `a listener of ${stream} batches failed: ${(error as Error).message}`,
        );
      }
    }
  }
}

/** What a projection's `applyBatch` resolves to: its stats, and whatever else it reports of a batch. */
export type BatchOf<P> = P extends { applyBatch(...args: never[]): Promise<infer Batch> } ? Batch : never;
