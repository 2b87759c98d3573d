/**
 * A source of timers and of the time they count in. Liveness timers and task runs take one,
 * so tests drive them with XState's `SimulatedClock`, which has this shape.
 */
export interface Clock {
  setTimeout(callback: () => void, delayMs: number): unknown;
  clearTimeout(handle: unknown): void;
  now(): number;
  /** The wall clock, when `now` runs on another one (the monotonic clock); without it `now` is the wall clock. */
  wallNow?(): number;
}

/**
 * Monotonic milliseconds for every duration: the wall clock at process start plus the time
 * elapsed since, so its readings look like epoch times, yet a step of the host's clock (NTP,
 * a resumed VM, `date -s`) moves neither them nor the timers. Whole milliseconds: flooring keeps
 * it monotonic, and events never carry fractions.
 */
export const MONOTONIC_CLOCK: Clock = {
  setTimeout: (callback, delayMs) => setTimeout(callback, delayMs),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
  now: () => Math.floor(performance.timeOrigin + performance.now()),
  wallNow: () => Date.now(),
};

/** The wall clock's time now: for the `at` of events and for display, never for a duration. */
export function wallNow(clock: Clock): number {
  return clock.wallNow ? clock.wallNow() : clock.now();
}

/** How far the wall clock is ahead of `clock` now (0 when `clock` is the wall clock). */
export function wallOffsetOf(clock: Clock): number {
  return clock.wallNow ? clock.wallNow() - clock.now() : 0;
}

/** The wall-clock reading of an instant `time` measured on `clock`, as the wall clock reads now. */
export function toWallTime(clock: Clock, time: number): number {
  return time + wallOffsetOf(clock);
}

/** The instant on `clock` of a wall-clock reading (a time stored in an event). */
export function fromWallTime(clock: Clock, wallTime: number): number {
  return wallTime - wallOffsetOf(clock);
}
