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
    const selectDocuments = (view: ReadModel) => selectWorkers(view.listWorkers(), filter, all).workers;
    if (options.watch) {
      // One JSON document per line each second, the same array `--json` prints: `jq` reads it line by line.
      await watch(config.dataDir, async (readModel) => {
        const now = Date.now();
        const workers = readModel.snapshot(selectDocuments);
        await writeLine(JSON.stringify(workers.map((worker) => listedWorker(worker, now))));
      });
      return;
    }
    const now = Date.now();
    const workers = await readSnapshot(config.dataDir, selectDocuments);
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
  await watch(config.dataDir, async (readModel) => {
    const frame = render(readModel.snapshot(select));
    // Home + clear-screen, so the table redraws in place.
    await writeLine(
      `\x1b[H\x1b[2J${color.dim(`every 1s: cloudai workers — ${new Date().toLocaleTimeString()}`)}\n\n${frame}`,
    );
  });
}

/**
 * Shows the read model every second until Ctrl-C (or until stdout is closed, e.g. by `head`):
 * each `show` finishes before the next one starts, so a slow reader slows the loop instead of
 * piling up output.
 */
async function watch(dataDir: string, show: (readModel: ReadModel) => Promise<void>): Promise<void> {
  const readModel = ReadModel.open({ dataDir, readOnly: true });
  let stopped = false;
  let wake = () => {};
  const stop = () => {
    stopped = true;
    wake();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  process.stdout.once('error', stop);
  try {
    while (!stopped) {
      await show(readModel);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, WATCH_INTERVAL_MS);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    await readModel.close();
  }
}

/** Writes a line to stdout, waiting if the reader is behind; never waits once stdout is gone. */
async function writeLine(line: string): Promise<void> {
  if (process.stdout.destroyed) return;
  if (!process.stdout.write(`${line}\n`)) {
    await new Promise<void>((resolve) => {
      process.stdout.once('drain', resolve);
      process.stdout.once('error', resolve);
    });
  }
}
