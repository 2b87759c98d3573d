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

/**
 * Walks a batch in stream order and hands each new, decodable event to `apply`. Messages at or
 * below `position` are counted as duplicates (redelivery after a crash); undecodable ones are
 * counted and reported, but still move the position, so one corrupt record cannot stall every
 * later event. Returns the new position.
 */
export function forEachNewEvent<Event>(
  messages: readonly StreamMessage[],
  position: number,
  decode: (data: Uint8Array) => DecodeResult<Event>,
  counts: BatchCounts,
  onInvalid: ((streamSeq: number, detail: string) => void) | undefined,
  apply: (event: Event, streamSeq: number) => void,
): number {
  let reached = position;
  for (const msg of messages) {
    if (msg.seq <= reached) {
      counts.duplicates++;
      continue;
    }
    reached = msg.seq;
    const decoded = decode(msg.data);
    if (!decoded.ok) {
      counts.invalid++;
      onInvalid?.(msg.seq, decoded.detail);
      continue;
    }
    apply(decoded.value, msg.seq);
  }
  return reached;
}
