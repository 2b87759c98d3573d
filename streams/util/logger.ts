import { MONOTONIC_CLOCK } from './clock.js';
/** The logging surface every service takes in its options, so tests and benchmarks can silence or capture it. */
export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/** Plain lines on stderr, so stdout stays clean for command output such as `--json`. */
export function createConsoleLogger(component: string): Logger {
  const write = (level: string, message: string) => {
    process.stderr.write(`${new Date().toISOString()} ${level} [${component}] ${message}\n`);
  };
  return {
    info: (message) => write('INFO', message),
    warn: (message) => write('WARN', message),
    error: (message) => write('ERROR', message),
  };
}

export const silentLogger: Logger = { info() {}, warn() {}, error() {} };

/**
 * Lets one line per key through every `intervalMs` and reports how many were held back,
 * so a flood of bad input cannot flood the log.
 */
export class RateLimitedLog {
  private readonly lastLoggedAt = new Map<string, number>();
  private readonly suppressed = new Map<string, number>();

  constructor(
    private readonly logger: Logger,
    private readonly intervalMs = 10_000,
    // Monotonic: a step back of the wall clock must not silence a warning for as long.
    private readonly now: () => number = MONOTONIC_CLOCK.now,
  ) {}

  warn(key: string, message: string): void {
    const now = this.now();
    const last = this.lastLoggedAt.get(key);
    if (last !== undefined && now - last < this.intervalMs) {
      this.suppressed.set(key, (this.suppressed.get(key) ?? 0) + 1);
      return;
    }
    const held = this.suppressed.get(key) ?? 0;
    this.suppressed.delete(key);
    this.lastLoggedAt.set(key, now);
    this.logger.warn(held > 0 ? `${message} (${held} more like it since the last report)` : message);
  }
}
