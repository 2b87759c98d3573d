import { headers, type NatsConnection } from '@nats-io/transport-node';
import { taskLogSubject } from '../streams/contracts/subjects.js';
import {
  LOG_HEADER_ROOM_BYTES,
  LOG_HEADERS,
  type LogEnding,
  ROLLUP_SUBJECT,
  TASK_LOG_BOUNDS,
} from '../streams/contracts/task-logs.js';

export interface LogShipperOptions {
  nc: NatsConnection;
  workerId: string;
  taskId: string;
  attempt: number;
  /** How often output is shipped; what a task prints in between goes out together. */
  flushEveryMs?: number;
  /** Most output bytes shipped per flush: a task that prints gigabytes costs the link this much. */
  bytesPerFlush?: number;
}

const DEFAULT_FLUSH_EVERY_MS = 200;
const DEFAULT_BYTES_PER_FLUSH = 128 * 1024;

/**
 * Ships what one attempt prints to `tasks.logs.<workerId>.<taskId>`, for stream TASK_LOGS. It
 * keeps only the last `tailBytes` in memory and ships at a bounded rate, so output that comes
 * faster than that is dropped (readers see the gap in the offsets), never queued. Every
 * `rollupEveryBytes` shipped, it re-sends the kept tail as a rollup, which purges the subject's
 * older messages: storage per task stays bounded whatever the task prints.
 */
export class TaskLogShipper {
  private readonly subject: string;
  private readonly ring: Buffer[] = [];
  private ringBytes = 0;
  /** Output bytes the attempt has printed. */
  private produced = 0;
  /** Output bytes up to which everything kept has been shipped. */
  private shipped = 0;
  private bytesSinceRollup = 0;
  private messagesSinceRollup = 0;
  private timer?: NodeJS.Timeout;
  private ended = false;
  private readonly flushEveryMs: number;
  private readonly bytesPerFlush: number;

  constructor(private readonly options: LogShipperOptions) {
    this.subject = taskLogSubject(options.workerId, options.taskId);
    this.flushEveryMs = options.flushEveryMs ?? DEFAULT_FLUSH_EVERY_MS;
    this.bytesPerFlush = options.bytesPerFlush ?? DEFAULT_BYTES_PER_FLUSH;
  }

  append(chunk: Buffer): void {
    if (this.ended || chunk.byteLength === 0) return;
    this.ring.push(chunk);
    this.ringBytes += chunk.byteLength;
    this.produced += chunk.byteLength;
    this.trim();
    this.timer ??= setInterval(() => this.flush(this.bytesPerFlush), this.flushEveryMs);
  }

  /** Output bytes seen so far (for tests and the worker's own figures). */
  get bytesProduced(): number {
    return this.produced;
  }

  /** Ships what is kept and not yet shipped (ignoring the rate), then the end marker. */
  finish(ending: LogEnding): void {
    if (this.ended) return;
    this.ended = true;
    if (this.timer) clearInterval(this.timer);
    this.flush(Number.POSITIVE_INFINITY);
    this.publish(Buffer.alloc(0), this.produced, { [LOG_HEADERS.end]: ending });
  }

  private trim(): void {
    while (this.ringBytes > TASK_LOG_BOUNDS.tailBytes) {
      const head = this.ring[0] as Buffer;
      const excess = this.ringBytes - TASK_LOG_BOUNDS.tailBytes;
      if (head.byteLength <= excess) {
        this.ring.shift();
        this.ringBytes -= head.byteLength;
      } else {
        this.ring[0] = head.subarray(excess);
        this.ringBytes -= excess;
      }
    }
  }

  /** Output bytes [from, to) that are still kept. */
  private kept(from: number, to: number): Buffer {
    const ringStart = this.produced - this.ringBytes;
    const parts: Buffer[] = [];
    let position = ringStart;
    for (const chunk of this.ring) {
      const end = position + chunk.byteLength;
      if (end > from && position < to) {
        parts.push(chunk.subarray(Math.max(0, from - position), Math.min(chunk.byteLength, to - position)));
      }
      position = end;
      if (position >= to) break;
    }
    return Buffer.concat(parts);
  }

  private flush(budget: number): void {
    if (this.options.nc.isClosed()) return;
    // What the ring no longer holds is gone: ship on from where it starts.
    const from = Math.max(this.shipped, this.produced - this.ringBytes);
    const to = Math.min(this.produced, from + budget);
    if (to <= from) return;
    for (let start = from; start < to; start += TASK_LOG_BOUNDS.chunkBytes) {
      const end = Math.min(to, start + TASK_LOG_BOUNDS.chunkBytes);
      this.publish(this.kept(start, end), start);
      this.bytesSinceRollup += end - start;
      this.messagesSinceRollup++;
    }
    this.shipped = to;
    if (
      this.bytesSinceRollup >= TASK_LOG_BOUNDS.rollupEveryBytes ||
      this.messagesSinceRollup >= TASK_LOG_BOUNDS.rollupEveryMessages
    ) {
      this.rollup();
    }
  }

  /**
   * The kept tail up to what was shipped, as the subject's only messages from now on: the first
   * piece rolls up (purges) everything before it, the others follow it.
   */
  private rollup(): void {
    const start = Math.max(this.produced - this.ringBytes, this.shipped - TASK_LOG_BOUNDS.tailBytes);
    const piece = Math.min(
      TASK_LOG_BOUNDS.pieceBytes,
      this.options.nc.info
        ? this.options.nc.info.max_payload - LOG_HEADER_ROOM_BYTES
        : TASK_LOG_BOUNDS.pieceBytes,
    );
    for (let from = start; from < this.shipped; from += piece) {
      const to = Math.min(this.shipped, from + piece);
      this.publish(this.kept(from, to), from, from === start ? { [LOG_HEADERS.rollup]: ROLLUP_SUBJECT } : {});
    }
    this.bytesSinceRollup = 0;
    this.messagesSinceRollup = 0;
  }

  private publish(payload: Buffer, offset: number, extra: Record<string, string> = {}): void {
    const { nc, attempt } = this.options;
    if (nc.isClosed()) return;
    const h = headers();
    h.set(LOG_HEADERS.attempt, String(attempt));
    h.set(LOG_HEADERS.offset, String(offset));
    for (const [key, value] of Object.entries(extra)) h.set(key, value);
    try {
      nc.publish(this.subject, payload, { headers: h });
    } catch {
      // Refused by the client (a payload above the server's limit, a closing connection): this
      // piece of output is lost, the reader sees the gap, and the task goes on.
    }
  }
}
