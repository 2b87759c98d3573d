import { createConsoleLogger } from '../../streams/logger.js';
import { type ConfigOverrides, resolveConfig } from '../config.js';
import { ControlPlane } from '../control-plane.js';
import { exitGracefullyOnSignal } from '../lifecycle.js';

/** `cloudai serve`: the control plane against an existing NATS server, until SIGINT/SIGTERM. */
export async function serveCommand(overrides: ConfigOverrides): Promise<void> {
  const config = resolveConfig(overrides);
  const logger = createConsoleLogger('serve');
  const controlPlane = await ControlPlane.start({ config });
  exitGracefullyOnSignal({
    shutdown: () => controlPlane.close(),
    log: (message) => logger.info(message),
  });
}
