import type { ChildProcess } from 'node:child_process';
import { raceTimeout } from './timeout.js';

export function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

/** Asks a child to stop (SIGTERM) and kills it if it has not exited within `graceMs`. */
export async function stopChildProcess(
  child: ChildProcess,
  exited: Promise<void>,
  graceMs: number,
): Promise<void> {
  if (hasExited(child)) return;
  child.kill('SIGTERM');
  const stopped = await raceTimeout(
    exited.then(() => true),
    graceMs,
    () => false,
  );
  if (!stopped) {
    child.kill('SIGKILL');
    await exited;
  }
}
