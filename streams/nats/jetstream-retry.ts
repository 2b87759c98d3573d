import { setTimeout as sleep } from 'node:timers/promises';
import { TimeoutError } from '@nats-io/transport-node';
import type { Logger } from '../util/logger.js';

/** How long a starting control plane keeps retrying a JetStream call that times out. */
const RETRY_FOR_MS = 30_000;
const RETRY_PAUSE_MS = 500;

/** Whether a NATS or JetStream call failed for want of an answer in time. */
export function isTimeout(error: unknown): boolean {
  return (
    error instanceof TimeoutError ||
    (error as Error)?.cause instanceof TimeoutError ||
    /timeout/i.test(String((error as Error)?.message))
  );
}

/**
 * Runs a JetStream management call, retrying it while it times out: a cluster electing leaders
 * (a server just died, or several control planes start at once) answers late for a few seconds,
 * which is no reason for a control plane to give up starting. Other errors are thrown at once.
 */
export async function retryWhileTimingOut<T>(
  what: string,
  action: () => Promise<T>,
  logger: Logger,
): Promise<T> {
  const giveUpAt = Date.now() + RETRY_FOR_MS;
  for (let attempt = 1; ; attempt++) {
    try {
      return await action();
    } catch (error) {
      if (!isTimeout(error) || Date.now() >= giveUpAt) throw error;
      if (attempt === 1) logger.warn(`${what} timed out (JetStream busy or electing a leader): retrying`);
      await sleep(RETRY_PAUSE_MS);
    }
  }
}
