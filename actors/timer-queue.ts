/** A source of timers and of the time they count in; `SimulatedClock` from xstate is one. */
export interface LivenessClock {
  setTimeout(callback: () => void, delayMs: number): unknown;
  clearTimeout(handle: unknown): void;
  now(): number;
}

/** The wall clock. */
export const SYSTEM_CLOCK: LivenessClock = {
  setTimeout: (callback, delayMs) => setTimeout(callback, delayMs),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
  now: () => Date.now(),
};

interface TimerEntry {
  dueAt: number;
  /** Ties on `dueAt` fire in the order they were set. */
  order: number;
  callback: (() => void) | undefined;
}

/**
 * Many timers on one: a min-heap of deadlines served by a single timer of the underlying
 * clock. One timer per worker meant 100 000 native timers, each a few hundred bytes and a
 * native re-arm; here a timer is a small object in an array, and `clear()` drops them all
 * at once (the fleet's actors cannot be stopped one by one, see Fleet).
 */
export class TimerQueue implements LivenessClock {
  private heap: TimerEntry[] = [];
  private nextOrder = 0;
  private underlying: { handle: unknown; dueAt: number } | undefined;
  private firing = false;

  constructor(private readonly clock: LivenessClock) {}

  now(): number {
    return this.clock.now();
  }

  /** Pending (not cancelled and not yet fired) plus cancelled ones not yet swept out. */
  get size(): number {
    return this.heap.length;
  }

  setTimeout(callback: () => void, delayMs: number): TimerEntry {
    const entry: TimerEntry = {
      dueAt: this.clock.now() + Math.max(0, delayMs),
      order: this.nextOrder++,
      callback,
    };
    this.push(entry);
    if (!this.firing) this.armUnderlying();
    return entry;
  }

  clearTimeout(handle: unknown): void {
    // Lazy removal: the entry stays in the heap, inert, until it reaches the top.
    if (isTimerEntry(handle)) handle.callback = undefined;
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
    try {
      const now = this.clock.now();
      // Bounded by the entries due now: a callback that sets a 0 ms timer gets it run in this loop.
      for (let top = this.heap[0]; top !== undefined && top.dueAt <= now; top = this.heap[0]) {
        this.pop();
        const callback = top.callback;
        top.callback = undefined;
        callback?.();
      }
    } finally {
      this.firing = false;
      this.armUnderlying();
    }
  }

  private armUnderlying(): void {
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

  private push(entry: TimerEntry): void {
    const heap = this.heap;
    let index = heap.length;
    heap.push(entry);
    while (index > 0) {
      const parentIndex = (index - 1) >> 1;
      const parent = heap[parentIndex] as TimerEntry;
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
        right < length && earlier(heap[right] as TimerEntry, heap[left] as TimerEntry) ? right : left;
      if (!earlier(heap[child] as TimerEntry, last)) break;
      heap[index] = heap[child] as TimerEntry;
      index = child;
    }
    heap[index] = last;
  }
}

function earlier(a: TimerEntry, b: TimerEntry): boolean {
  return a.dueAt < b.dueAt || (a.dueAt === b.dueAt && a.order < b.order);
}

function isTimerEntry(handle: unknown): handle is TimerEntry {
  return typeof handle === 'object' && handle !== null && 'dueAt' in handle && 'order' in handle;
}
