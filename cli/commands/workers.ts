import { ReadModel } from '../../projections/read-model.js';
import type { WorkerDocument } from '../../projections/worker-document.js';
import type { WorkerStatus } from '../../streams/worker-events.js';
import { ConfigError, type ConfigOverrides, resolveConfig } from '../config.js';
import { colors, shouldUseColor } from '../terminal.js';
import { renderWorkersTable } from '../workers-table.js';

export interface WorkersCommandOptions {
  json?: boolean;
  watch?: boolean;
  status?: string;
}

const STATUSES: readonly WorkerStatus[] = ['active', 'inactive'];
const WATCH_INTERVAL_MS = 1_000;

/** `cloudai workers`: the worker table (or documents) from the read model. Reads only LMDB, never NATS. */
export async function workersCommand(
  options: WorkersCommandOptions,
  overrides: ConfigOverrides,
): Promise<void> {
  const status = parseStatus(options.status);
  const config = resolveConfig(overrides);
  const readModel = ReadModel.open({ dataDir: config.dataDir, readOnly: true });
  const load = () => readModel.snapshot((view) => filter(view.listWorkers(), status));
  if (options.json) {
    process.stdout.write(`${JSON.stringify(load(), null, 2)}\n`);
    await readModel.close();
    return;
  }
  const color = colors(shouldUseColor());
  if (!options.watch) {
    process.stdout.write(`${renderWorkersTable(load(), Date.now(), color)}\n`);
    await readModel.close();
    return;
  }
  const draw = () => {
    const frame = renderWorkersTable(load(), Date.now(), color);
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

function parseStatus(value: string | undefined): WorkerStatus | undefined {
  if (value === undefined) return undefined;
  if ((STATUSES as readonly string[]).includes(value)) return value as WorkerStatus;
  throw new ConfigError(
    `--status ${JSON.stringify(value)} is not a status: use one of ${STATUSES.join(', ')}`,
  );
}

function filter(workers: WorkerDocument[], status: WorkerStatus | undefined): WorkerDocument[] {
  return status ? workers.filter((worker) => worker.status === status) : workers;
}
