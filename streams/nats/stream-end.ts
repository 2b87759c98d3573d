import type { JetStreamManager } from '@nats-io/jetstream';

/** Resolves once a reader has applied everything up to this stream position. */
export type StreamReader = (streamSeq: number) => Promise<void>;

/**
 * Resolves once every reader has applied all that `stream` holds now (its last sequence when
 * asked); returns that sequence. How a control plane makes sure it decides from everything
 * written before it took a role.
 */
export async function waitForStreamEnd(
  jsm: JetStreamManager,
  stream: string,
  readers: readonly StreamReader[],
): Promise<number> {
  const { state } = await jsm.streams.info(stream);
  await Promise.all(readers.map((applied) => applied(state.last_seq)));
  return state.last_seq;
}
