/**
 * A source of timers and of the time they count in. Liveness timers and task runs take one,
 * so tests drive them with XState's `SimulatedClock`, which has this shape.
 */
export interface Clock {
  setTimeout(callback: () => void, delayMs: number): unknown;
  clearTimeout(handle: unknown): void;
  now(): number;
}

/** The wall clock. */
export const SYSTEM_CLOCK: Clock = {
  setTimeout: (callback, delayMs) => setTimeout(callback, delayMs),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
  now: () => Date.now(),
};
