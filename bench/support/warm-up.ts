import type { ControlPlane } from '../../control-plane/control-plane.js';
import { heartbeatsReceived } from './control-plane.js';
import { pollUntil } from './stats.js';

/**
 * Waits until every one of `workers` has registered and its WorkerRegistered event is stored
 * and applied to the read model: the steady state the measurements start from.
 */
export async function waitForFleetSteady(
  controlPlane: ControlPlane,
  workers: number,
  options: { timeoutMs: number; progress: (line: string) => void },
): Promise<{ registeredMs: number; storedMs: number; cpuMs: number }> {
  const startedAt = Date.now();
  // On a shared machine the wall time also counts waiting for a core; the CPU time does not.
  const cpuAtStart = process.cpuUsage();
  const report = setInterval(
    () =>
      options.progress(
        `  warm-up: ${controlPlane.fleet.size}/${workers} actors, ${heartbeatsReceived(controlPlane)} heartbeats, ` +
          `${controlPlane.publisher.pending} events awaiting JetStream (${controlPlane.publisher.stats.retried} retries), ` +
          `${controlPlane.projector.stats.applied} applied to the read model`,
      ),
    5_000,
  );
  try {
    const registered = await pollUntil(() => controlPlane.fleet.size >= workers, options.timeoutMs);
    if (!registered) throw new Error(`only ${controlPlane.fleet.size} of ${workers} workers registered`);
    const registeredMs = Date.now() - startedAt;
    const remainingMs = Math.max(1_000, options.timeoutMs - registeredMs);
    if (!(await controlPlane.publisher.flush(remainingMs))) {
      throw new Error(`${controlPlane.publisher.pending} registrations still unacknowledged by JetStream`);
    }
    const applied = await pollUntil(() => controlPlane.projector.stats.applied >= workers, remainingMs);
    if (!applied)
      throw new Error(`only ${controlPlane.projector.stats.applied} registrations applied to the read model`);
    const cpu = process.cpuUsage(cpuAtStart);
    return {
      registeredMs,
      storedMs: Date.now() - startedAt,
      cpuMs: Math.round((cpu.user + cpu.system) / 1_000),
    };
  } finally {
    clearInterval(report);
  }
}
