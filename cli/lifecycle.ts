/** Environment variable set by `cloudai up` on its children: they exit when `up` goes away. */
export const EXIT_WITH_PARENT_ENV = 'CLOUDAI_EXIT_WITH_PARENT';

export interface ShutdownOptions {
  /** Runs once, on the first SIGINT or SIGTERM (or when the parent goes away). */
  shutdown: () => Promise<void>;
  /** Longest the graceful path may take before the process exits anyway. */
  graceMs?: number;
  log?: (message: string) => void;
}

/**
 * Graceful stop on SIGINT/SIGTERM: run `shutdown`, then exit 0. A second signal, or a
 * shutdown that overruns `graceMs`, exits at once with a non-zero code.
 */
export function exitGracefullyOnSignal(options: ShutdownOptions): void {
  let stopping = false;
  const graceMs = options.graceMs ?? 5_000;
  const stop = (reason: string) => {
    if (stopping) {
      options.log?.(`${reason} again: exiting now`);
      process.exit(130);
    }
    stopping = true;
    options.log?.(`${reason}: shutting down`);
    setTimeout(() => {
      options.log?.(`shutdown took longer than ${graceMs} ms: exiting anyway`);
      process.exit(1);
    }, graceMs).unref();
    options
      .shutdown()
      .then(() => process.exit(0))
      .catch((error: Error) => {
        options.log?.(`shutdown failed: ${error.message}`);
        process.exit(1);
      });
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  if (process.env[EXIT_WITH_PARENT_ENV] === '1') {
    // `up` holds the write end of our stdin: when it dies, even by SIGKILL, stdin ends.
    process.stdin.on('end', () => stop('parent process gone'));
    process.stdin.on('error', () => stop('parent process gone'));
    process.stdin.resume();
  }
}
