import type { Clock } from '../streams/util/clock.js';

interface TimerEntry<Owner> {
  dueAt: number;
  /** Ties on `dueAt` fire in the order they were set. */
  order: number;
  callback: (() => void) | undefined;
  /** Whoever was running (see `runFor`) when the timer was set. */
  owner: Owner | undefined;
}

export interface TimerQueueOptions<Owner> {
  clock: Clock;
  /**
   * Called just before a timer of `owner` fires. The owner may catch up first (and so cancel
   * the timer), or return a later time to postpone the timer to: it then fires no earlier.
   */
  beforeFire?: (owner: Owner) => number | undefined;
  /**
   * Given, due timers fire in slices of `FIRES_PER_SLICE`, and this schedules the next slice
   * (`setImmediate`: after pending I/O). When many fall due at once (every worker restored at
   * one instant has the same deadline), heartbeats are let in between slices instead of
   * waiting for all. Without it (simulated clocks), everything due fires at once.
   */
  continueLater?: (resume: () => void) => void;
}

/** A timer as `setTimeout` returns it: to cancel it, or to hand it over with `adopt`. */
export type TimerHandle = object;

/** Due timers fired before yielding on the wall clock: enough to pay for the yield, few enough
 * that heartbeats get their turn soon. */
const FIRES_PER_SLICE = 256;

/**
 * Many timers on one: a min-heap of deadlines served by a single timer of the underlying
 * clock: a native timer per worker costs memory and a re-arm each, here a timer is a small
 * object in an array, and `clear()` drops them all at once (the fleet's actors cannot be
 * stopped one by one, see Fleet).
 *
 * Each timer remembers its owner: whoever `runFor` named while it was set. XState sets timers
 * without saying for whom; the fleet runs each actor's work under that actor's name, so that
 * `beforeFire` can let the actor catch up on heartbeats before its timer decides anything.
 */
export class TimerQueue<Owner = unknown> implements Clock {
  private heap: TimerEntry<Owner>[] = [];
  private nextOrder = 0;
  private underlying: { handle: unknown; dueAt: number } | undefined;
  private firing = false;
  private continuing = false;
  private owner: Owner | undefined;
  /** A pending timer the next `setTimeout` takes over (see `adopt`). */
  private adopting: TimerEntry<Owner> | undefined;
  private readonly clock: Clock;

  constructor(private readonly options: TimerQueueOptions<Owner>) {
    this.clock = options.clock;
  }

  /** Runs `work`; timers it sets belong to `owner`. */
  runFor<T>(owner: Owner, work: () => T): T {
    const previous = this.owner;
    this.owner = owner;
    try {
      return work();
    } finally {
      this.owner = previous;
    }
  }

  /**
   * Runs `work`; the first timer it sets takes the place of `pending`: the same due time, and
   * the same turn among timers due at that instant, as if it had been set when `pending` was.
   * A timer that already fired or was cancelled is not taken over.
   */
  adopt<T>(pending: TimerHandle, work: () => T): T {
    const previous = this.adopting;
    this.adopting = isTimerEntry(pending) && pending.callback ? (pending as TimerEntry<Owner>) : undefined;
    try {
      return work();
    } finally {
      this.adopting = previous;
    }
  }

  now(): number {
    return this.clock.now();
  }

  /** Pending (not cancelled and not yet fired) plus cancelled ones not yet swept out. */
  get size(): number {
    return this.heap.length;
  }

  setTimeout(callback: () => void, delayMs: number): TimerEntry<Owner> {
    const adopted = this.adopting;
    if (adopted) {
      this.adopting = undefined;
      adopted.callback = callback;
      return adopted;
    }
    const entry: TimerEntry<Owner> = {
      dueAt: this.clock.now() + Math.max(0, delayMs),
      order: this.nextOrder++,
      callback,
      owner: this.owner,
    };
    this.push(entry);
    if (!this.firing && !this.continuing) this.armUnderlying();
    return entry;
  }

  clearTimeout(handle: unknown): void {
    // Lazy removal: the entry stays in the heap, inert, until it reaches the top.
    if (isTimerEntry(handle)) handle.callback = undefined;
  }

  /** Cancels the timers of the owners `cancels` picks (one pass over the queue). */
  cancelWhere(cancels: (owner: Owner) => boolean): void {
    for (const entry of this.heap) {
      if (entry.owner !== undefined && cancels(entry.owner)) entry.callback = undefined;
    }
  }

  /** Cancels every timer, pending or not. */
  clear(): void {
    this.heap = [];
    if (this.underlying) this.clock.clearTimeout(this.underlying.handle);
    this.underlying = undefined;
  }

  private fire(): void {
    this.underlying = undefined;
    this.firing = true;
    let sliceFull = false;
    try {
      const now = this.clock.now();
      const limit = this.options.continueLater ? FIRES_PER_SLICE : Number.POSITIVE_INFINITY;
      for (let fired = 0; ; fired++) {
        const top = this.heap[0];
        if (top === undefined || top.dueAt > now) break;
        if (fired >= limit) {
          sliceFull = true;
          break;
        }
        this.pop();
        if (top.callback && top.owner !== undefined) {
          const postponedTo = this.options.beforeFire?.(top.owner);
          if (postponedTo !== undefined && postponedTo > now) {
            top.dueAt = postponedTo;
            top.order = this.nextOrder++;
            this.push(top);
            continue;
          }
        }
        // Read only now: `beforeFire` may have cancelled this very timer.
        const { callback, owner } = top;
        top.callback = undefined;
        if (!callback) continue;
        if (owner === undefined) callback();
        else this.runFor(owner, callback);
      }
    } finally {
      this.firing = false;
      if (sliceFull && this.options.continueLater) this.continueSoon(this.options.continueLater);
      else this.armUnderlying();
    }
  }

  private continueSoon(continueLater: (resume: () => void) => void): void {
    if (this.continuing) return;
    this.continuing = true;
    continueLater(() => {
      this.continuing = false;
      // clear() may have run meanwhile; an empty heap makes this a no-op.
      this.fire();
    });
  }

  private armUnderlying(): void {
    if (this.continuing) return; // the next slice re-arms when it is done
    // Cancelled entries at the top would only cause empty wake-ups.
    while (this.heap[0] && this.heap[0].callback === undefined) this.pop();
    const top = this.heap[0];
    if (!top) return;
    if (this.underlying && this.underlying.dueAt <= top.dueAt) return;
    if (this.underlying) this.clock.clearTimeout(this.underlying.handle);
    const dueAt = top.dueAt;
    this.underlying = {
      dueAt,
      handle: this.clock.setTimeout(() => this.fire(), Math.max(0, dueAt - this.clock.now())),
    };
  }

  private push(entry: TimerEntry<Owner>): void {
    const heap = this.heap;
    let index = heap.length;
    heap.push(entry);
    while (index > 0) {
      const parentIndex = (index - 1) >> 1;
      const parent = heap[parentIndex] as TimerEntry<Owner>;
      if (!earlier(entry, parent)) break;
      heap[index] = parent;
      index = parentIndex;
    }
    heap[index] = entry;
  }

  private pop(): void {
    const heap = this.heap;
    const last = heap.pop();
    if (!last || heap.length === 0) return;
    let index = 0;
    const length = heap.length;
    for (;;) {
      const left = 2 * index + 1;
      if (left >= length) break;
      const right = left + 1;
      const child =
        right < length && earlier(heap[right] as TimerEntry<Owner>, heap[left] as TimerEntry<Owner>)
          ? right
          : left;
      if (!earlier(heap[child] as TimerEntry<Owner>, last)) break;
      heap[index] = heap[child] as TimerEntry<Owner>;
      index = child;
    }
    heap[index] = last;
  }
}

function earlier<Owner>(a: TimerEntry<Owner>, b: TimerEntry<Owner>): boolean {
  return a.dueAt < b.dueAt || (a.dueAt === b.dueAt && a.order < b.order);
}

function isTimerEntry(handle: unknown): handle is TimerEntry<unknown> {
  return typeof handle === 'object' && handle !== null && 'dueAt' in handle && 'order' in handle;
}
