/**
 * The wire contract of task output. A worker ships what an attempt prints as raw bytes on
 * `tasks.logs.<workerId>.<taskId>`, each message with these headers; stream TASK_LOGS keeps a
 * bounded tail of each subject. Offsets count the attempt's output bytes from its start, so a
 * reader writes each byte once and sees where output was dropped.
 */
export const LOG_HEADERS = {
  attempt: 'Cloudai-Attempt',
  /** Where this message's payload starts in the attempt's output. */
  offset: 'Cloudai-Offset',
  /** On the attempt's last message (empty payload): how it ended. */
  end: 'Cloudai-Log-End',
  /** JetStream's own: this message replaces everything stored on its subject before it. */
  rollup: 'Nats-Rollup',
} as const;

/** JetStream's value of `Nats-Rollup` that purges the earlier messages of the same subject. */
export const ROLLUP_SUBJECT = 'sub';

export const LOG_ENDINGS = ['completed', 'failed', 'stopped', 'lost'] as const;
export type LogEnding = (typeof LOG_ENDINGS)[number];

/**
 * Bounds of stored output. Each task keeps at least its last `tailBytes` on each worker that ran
 * it: the worker re-sends that tail whenever `rollupEveryBytes` (or `rollupEveryMessages`) more
 * have been stored, its first piece a rollup that purges what came before, so a subject never
 * holds more than `tailBytes + rollupEveryBytes` of output.
 */
export const TASK_LOG_BOUNDS = {
  tailBytes: 1024 * 1024,
  rollupEveryBytes: 512 * 1024,
  rollupEveryMessages: 500,
  /** Largest payload of an ordinary log message. */
  chunkBytes: 32 * 1024,
  /** Largest piece of a re-sent tail: below NATS's default 1 MiB payload limit. */
  pieceBytes: 512 * 1024,
} as const;

/** A server-side guard in case a worker does not roll up: messages kept per subject. */
export const MAX_LOG_MESSAGES_PER_SUBJECT = 2 * TASK_LOG_BOUNDS.rollupEveryMessages;
/** Room for a message's headers beyond its payload. */
export const LOG_HEADER_ROOM_BYTES = 4 * 1024;
/** Largest message TASK_LOGS accepts: a piece of a re-sent tail, with its headers. */
export const MAX_LOG_MESSAGE_BYTES = TASK_LOG_BOUNDS.pieceBytes + LOG_HEADER_ROOM_BYTES;

/** What a reader does with one log message: the bytes not written before, and the gap before them. */
export interface AssembledOutput {
  /** Output bytes between what was written and this message that nobody kept. */
  skipped: number;
  fresh: Uint8Array;
}

/**
 * Puts an attempt's output back together from its messages, each byte once: a rollup repeats
 * bytes already written, and a jump in the offsets is output that was not kept. One per reader,
 * keyed by worker and attempt.
 */
export class OutputAssembler {
  private readonly writtenUpTo = new Map<string, number>();

  accept(key: string, offset: number, data: Uint8Array): AssembledOutput {
    const written = this.writtenUpTo.get(key) ?? 0;
    const end = offset + data.byteLength;
    if (end <= written) return { skipped: 0, fresh: data.subarray(0, 0) };
    this.writtenUpTo.set(key, end);
    return { skipped: Math.max(0, offset - written), fresh: data.subarray(Math.max(0, written - offset)) };
  }
}
