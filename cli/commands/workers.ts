import { ReadModel } from '../../projections/read-model.js';
import { type ConfigOverrides, resolveClientConfig } from '../config.js';
import { writeJsonArray } from '../json-output.js';
import { readSnapshot } from '../read-model-snapshot.js';
import { colors, shouldUseColor } from '../terminal.js';
import { parseWorkerFilter, selectWorkers } from '../worker-selection.js';
import { listedWorker } from '../worker-stats.js';
import { renderWorkersTable } from '../workers-table.js';

export interface WorkersCommandOptions {
  json?: boolean;
  watch?: boolean;
  status?: string;
  all?: boolean;
}

const WATCH_INTERVAL_MS = 1_000;

/** `cloudai workers`: the worker table (or documents) from the read model. Reads only LMDB, never NATS. */
export async function workersCommand(
  options: WorkersCommandOptions,
  overrides: ConfigOverrides,
): Promise<void> {
  const filter = parseWorkerFilter(options.status);
  const config = resolveClientConfig(overrides);
  const all = options.all === true;
  if (options.json) {
    const now = Date.now();
    const { workers } = await readSnapshot(config.dataDir, (view) =>
      selectWorkers(view.listWorkers(), filter, all),
    );
    await writeJsonArray(process.stdout, workers, (worker) => listedWorker(worker, now));
    return;
  }
  // The table shows no uptime figures: it reads the documents without their records.
  const select = (view: ReadModel) => ({
    ...selectWorkers(view.listWorkers({ uptime: false }), filter, all),
    disruption: view.disruption(),
  });
  const color = colors(shouldUseColor());
  const render = ({ workers, ...context }: ReturnType<typeof select>) =>
    renderWorkersTable(workers, Date.now(), color, context);
  if (!options.watch) {
    process.stdout.write(`${render(await readSnapshot(config.dataDir, select))}\n`);
    return;
  }
  const readModel = ReadModel.open({ dataDir: config.dataDir, readOnly: true });
  const draw = () => {
    const frame = render(readModel.snapshot(select));
    // Home + clear-screen, so the table redraws in place.
    process.stdout.write(
      `\x1b[H\x1b[2J${color.dim(`every 1s: cloudai workers — ${new Date().toLocaleTimeString()}`)}\n\n${frame}\n`,
    );
  };
  draw();
  const timer = setInterval(draw, WATCH_INTERVAL_MS);
  await new Promise<void>((resolve) => {
    const stop = () => {
      clearInterval(timer);
      resolve();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await readModel.close();
}
