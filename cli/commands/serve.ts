import { ControlPlane } from '../../control-plane/control-plane.js';
import { createConsoleLogger } from '../../streams/util/logger.js';
import { type ConfigOverrides, resolveConfig } from '../config.js';
import { natsAccessFor } from '../credentials.js';
import { exitGracefullyOnSignal } from '../lifecycle.js';

/** `cloudai serve`: the control plane against an existing NATS server, until SIGINT/SIGTERM. */
export async function serveCommand(overrides: ConfigOverrides): Promise<void> {
  const config = resolveConfig(overrides);
  const logger = createConsoleLogger('serve');
  const controlPlane = await ControlPlane.start({
    settings: config,
    ...natsAccessFor(config, { role: 'control-plane' }),
    processMetrics: true,
  });
  const { metricsServer, alerts, dashboard } = controlPlane;
  if (metricsServer) {
    logger.info(
      `metrics on ${metricsServer.host}:${metricsServer.port}: ${metricsServer.url}/metrics and ${metricsServer.url}/healthz`,
    );
  }
  if (dashboard) {
    logger.info(
      `dashboard on ${dashboard.url}/ (${dashboard.actionsAllowed ? 'actions need the token' : 'read-only'})`,
    );
  }
  if (alerts.webhook) logger.info(`alerts are POSTed to ${alerts.webhook.origin}`);
  exitGracefullyOnSignal({
    shutdown: () => controlPlane.close(),
    log: (message) => logger.info(message),
  });
  // Started by `cloudai up` with an IPC channel: tell it we take heartbeats now, so the demo
  // workers it starts next are seen from their first beat.
  process.send?.({ type: 'ready' });
}
