/**
 * Starts a control plane that must fail (the test gives it settings that do) and does nothing
 * else: the process exits on its own only if the failed start left nothing running.
 * Usage: node --import tsx failed-start.ts <natsUrl> <dataDir> <leaseTtlMs>
 */
import { resolveConfig } from '../../cli/config.js';
import { ControlPlane } from '../../control-plane/control-plane.js';
import { silentLogger } from '../../streams/util/logger.js';

const [natsUrl, dataDir, leaseTtlMs] = process.argv.slice(2);
try {
  const controlPlane = await ControlPlane.start({
    settings: resolveConfig({ natsUrl, dataDir, leaseTtlMs: Number(leaseTtlMs) }, {}),
    logger: () => silentLogger,
  });
  console.log('started');
  await controlPlane.close();
} catch (error) {
  console.log(`start failed: ${(error as Error).message}`);
}
