import { readModelPath } from '../../projections/read-model.js';
import { uptimeOf } from '../../projections/uptime.js';
import { ConfigError, type ConfigOverrides, resolveClientConfig } from '../config.js';
import { readSnapshot } from '../read-model-snapshot.js';
import { colors, shouldUseColor } from '../terminal.js';
import { addComputedColumns, renderWorkerStats } from '../worker-stats.js';

/** `cloudai workers stats ID`: one worker's uptime figures, from the read model only. */
export async function workersStatsCommand(
  workerId: string,
  options: { json?: boolean },
  overrides: ConfigOverrides,
): Promise<void> {
  const config = resolveClientConfig(overrides);
  const worker = await readSnapshot(config.dataDir, (view) => view.getWorker(workerId));
  if (!worker) {
    throw new ConfigError(
      `no worker ${JSON.stringify(workerId)} in ${readModelPath(config.dataDir)}: list the workers with \`cloudai workers --all\``,
    );
  }
  const now = Date.now();
  // A worker still in the stretch it registered in has no stored record: it is rebuilt from the document.
  worker.uptime ??= uptimeOf(worker);
  process.stdout.write(
    options.json
      ? `${JSON.stringify(addComputedColumns(worker, now), null, 2)}\n`
      : `${renderWorkerStats(worker, now, colors(shouldUseColor()))}\n`,
  );
}
