import type { DecodeResult } from '../streams/util/json-codec.js';

/** One message of a stream: its sequence and raw payload. */
export interface StreamMessage {
  seq: number;
  data: Uint8Array;
}

export interface BatchCounts {
  duplicates: number;
  invalid: number;
}

/** Told of each undecodable event of a batch. */
export type InvalidEventHandler = (streamSeq: number, detail: string) => void;

/** The one wording of a skipped undecodable event, for every reader of the streams. */
export function invalidEventMessage(stream: string, streamSeq: number, detail: string): string {
  return `skipped invalid event at ${stream} seq ${streamSeq}: ${detail}`;
}

/**
 * Walks a batch in stream order and hands each new, decodable event to `apply`. Messages at or
 * below `position` are redeliveries after a crash and are skipped; undecodable ones are reported
 * but still move the position, so one corrupt record cannot stall every later event. Returns
 * the new position.
 */
export function forEachNewEvent<Event>(
  messages: readonly StreamMessage[],
  position: number,
  decode: (data: Uint8Array) => DecodeResult<Event>,
  handlers: {
    apply: (event: Event, streamSeq: number) => void;
    onInvalid?: InvalidEventHandler;
    /** Counted here when given. */
    counts?: BatchCounts;
  },
): number {
  const { apply, onInvalid, counts } = handlers;
  let reached = position;
  for (const msg of messages) {
    // Read once: a JetStream message parses its reply subject at every read of `seq`.
    const streamSeq = msg.seq;
    if (streamSeq <= reached) {
      if (counts) counts.duplicates++;
      continue;
    }
    reached = streamSeq;
    const decoded = decode(msg.data);
    if (!decoded.ok) {
      if (counts) counts.invalid++;
      onInvalid?.(streamSeq, decoded.detail);
      continue;
    }
    apply(decoded.value, streamSeq);
  }
  return reached;
}
