import type { Usage } from '../streams/contracts/heartbeat.js';
import type { HeartbeatSample } from './worker-document.js';

/** The newest heartbeat sample of one worker. */
export interface WorkerHeartbeatSample extends HeartbeatSample {
  workerId: string;
}

interface SampleSlot extends WorkerHeartbeatSample {
  /** In the queue of samples the next batch writes. */
  queued: boolean;
  /** Its worker has no document yet: kept out of the queue until its first event is applied (see park, unpark). */
  parked: boolean;
}

/**
 * The newest heartbeat sample of every worker, and which of them the next batch must write.
 * A slot per worker is kept and overwritten in place: a fresh map per batch and an object per
 * heartbeat showed in the ingest profile (bench/README.md).
 */
export class HeartbeatSampleBuffer {
  private readonly slots = new Map<string, SampleSlot>();
  private queue: SampleSlot[] = [];
  /** Where the samples not yet taken begin in `queue`. */
  private head = 0;

  record(workerId: string, receivedAt: number, usage: Usage): void {
    let slot = this.slots.get(workerId);
    if (slot) {
      slot.receivedAt = receivedAt;
      slot.usage = usage;
    } else {
      slot = { workerId, receivedAt, usage, queued: false, parked: false };
      this.slots.set(workerId, slot);
    }
    if (!slot.queued && !slot.parked) {
      slot.queued = true;
      this.queue.push(slot);
    }
  }

  /** Samples waiting to be written. */
  get waiting(): number {
    return this.queue.length - this.head;
  }

  /**
   * Hands over the waiting samples (the newest of each worker). They stay live: a heartbeat
   * arriving before they are written updates them, and is queued again for the batch after.
   */
  take(max = Number.POSITIVE_INFINITY): readonly WorkerHeartbeatSample[] {
    const end = Math.min(this.queue.length, this.head + max);
    const taken = this.queue.slice(this.head, end);
    if (end === this.queue.length) {
      this.queue = [];
      this.head = 0;
    } else {
      this.head = end;
    }
    for (const slot of taken) slot.queued = false;
    return taken;
  }

  /**
   * Keeps a worker's sample out of the batches until `unpark`: its document does not exist yet.
   * Looking for it in every batch cost a read per waiting worker per batch, which, with a whole
   * fleet registering at once, was most of the projector's time.
   */
  park(workerId: string): void {
    const slot = this.slots.get(workerId);
    if (slot) slot.parked = true;
  }

  /**
   * The worker's document is being written (its first event is applied): its parked sample,
   * now to be written with it, or undefined when none is parked.
   */
  unpark(workerId: string): WorkerHeartbeatSample | undefined {
    const slot = this.slots.get(workerId);
    if (!slot?.parked) return undefined;
    slot.parked = false;
    return slot;
  }
}
