import { type JetStreamManager, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { raceTimeout } from '../streams/util/timeout.js';

/** A stream the read model follows, and how far the read model has applied it. */
export interface FollowedStream {
  stream: string;
  applied: () => number;
}

export interface StreamLag {
  stream: string;
  /** The stream's last sequence, as JetStream reports it. */
  lastSeq: number;
  /** The last sequence the read model has applied. */
  applied: number;
  /** Events stored but not yet in the read model. */
  lag: number;
}

/** Longest a lag measurement waits for JetStream: a scrape or a health check must answer promptly. */
export const LAG_PROBE_TIMEOUT_MS = 2_000;

/** How far the read model is behind its streams: stream last sequence − applied position. */
export class ProjectorLagProbe {
  private manager?: Promise<JetStreamManager>;

  constructor(
    private readonly nc: NatsConnection,
    private readonly streams: readonly FollowedStream[],
    private readonly timeoutMs = LAG_PROBE_TIMEOUT_MS,
  ) {}

  /** Asks JetStream for each stream's last sequence; rejects when it does not answer within the timeout. */
  async measure(): Promise<StreamLag[]> {
    this.manager ??= jetstreamManager(this.nc, { timeout: this.timeoutMs, checkAPI: false });
    const jsm = await this.manager;
    const lags = Promise.all(
      this.streams.map(async ({ stream, applied }) => {
        const lastSeq = (await jsm.streams.info(stream)).state.last_seq;
        // Read after the stream: the read model may only have moved on meanwhile, never back.
        const position = applied();
        return { stream, lastSeq, applied: position, lag: Math.max(0, lastSeq - position) };
      }),
    );
    return raceTimeout(lags, this.timeoutMs, () => {
      throw new Error(`JetStream did not answer within ${this.timeoutMs} ms`);
    });
  }
}
