import { resolveConfig } from '../../cli/config.js';
import { ControlPlane, type ControlPlaneOptions } from '../../control-plane/control-plane.js';
import type { Logger } from '../../streams/util/logger.js';
import { type Figure, mustBeZero } from './report.js';
import type { BenchResources } from './resources.js';

export interface BenchControlPlaneOptions {
  natsUrl: string;
  dataDir: string;
  heartbeatTimeoutMs: number;
  heartbeatIntervalMs: number;
  onTransition?: ControlPlaneOptions['onTransition'];
  onEventStored?: ControlPlaneOptions['onEventStored'];
  onTaskEventStored?: ControlPlaneOptions['onTaskEventStored'];
}

/** Warnings the control plane logged during a benchmark: a publish retry or a rejected heartbeat is a finding. */
export interface LogCounts {
  warnings: number;
  errors: number;
}

/**
 * The same control plane `cloudai serve` runs (intake, fleet, publisher, projector), in this
 * process so the benchmark can observe it; closed with `resources`. Only warnings and errors
 * are kept: info lines (one per transition) would measure the terminal, not the fleet.
 */
export async function startBenchControlPlane(
  resources: BenchResources,
  options: BenchControlPlaneOptions,
): Promise<{ controlPlane: ControlPlane; logCounts: LogCounts }> {
  const logCounts: LogCounts = { warnings: 0, errors: 0 };
  const logger = (component: string): Logger => ({
    info() {},
    warn(message) {
      if (logCounts.warnings++ < 5) process.stderr.write(`  [${component}] warning: ${message}\n`);
    },
    error(message) {
      logCounts.errors++;
      process.stderr.write(`  [${component}] error: ${message}\n`);
    },
  });
  const config = resolveConfig(
    {
      natsUrl: options.natsUrl,
      dataDir: options.dataDir,
      heartbeatTimeoutMs: options.heartbeatTimeoutMs,
      heartbeatIntervalMs: options.heartbeatIntervalMs,
    },
    // The benchmark's own settings, whatever the caller's environment says.
    {},
  );
  const controlPlane = await ControlPlane.start({
    settings: config,
    logger,
    onTransition: options.onTransition,
    onEventStored: options.onEventStored,
    onTaskEventStored: options.onTaskEventStored,
  });
  resources.defer('control plane', () => controlPlane.close());
  return { controlPlane, logCounts };
}

/** Heartbeats the control plane has taken off the wire, valid or not. */
export function heartbeatsReceived(controlPlane: ControlPlane): number {
  return controlPlane.intake.accepted.count + controlPlane.intake.totalRejected;
}

/** Counts disconnects of a connection (a server cuts a slow consumer off) while the benchmark runs. */
export function countDisconnects(statuses: AsyncIterable<{ type: string }>): { count: number } {
  const counter = { count: 0 };
  void (async () => {
    for await (const status of statuses) {
      if (status.type === 'disconnect' || status.type === 'slowConsumer') counter.count++;
    }
  })();
  return counter;
}

/** What a load benchmark owes besides its own figures: heartbeats lost, and slow-consumer verdicts. */
export function deliveryFigures(
  delivery: { sent: number; received: number; slowConsumerEvents: number },
  atTargetScale: boolean,
): Figure[] {
  return [
    mustBeZero(
      {
        key: 'dropped',
        label: 'heartbeats sent but not received',
        value: Math.max(0, delivery.sent - delivery.received),
        unit: 'msgs',
        baseline: { label: 'sent', value: delivery.sent },
      },
      atTargetScale,
    ),
    mustBeZero(
      {
        key: 'slowConsumerEvents',
        label: 'slow-consumer reports + disconnects',
        value: delivery.slowConsumerEvents,
        unit: '',
      },
      atTargetScale,
    ),
  ];
}
