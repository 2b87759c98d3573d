import { ReadModel } from '../../projections/read-model.js';
import { rebuildReadModel } from '../../projections/rebuild.js';
import { type ConfigOverrides, resolveClientConfig } from '../config.js';
import { connectAsCli } from '../credentials.js';

/** `cloudai rebuild`: refolds the read model from WORKER_EVENTS and TASKS, printing progress on stderr. */
export async function rebuildCommand(overrides: ConfigOverrides): Promise<void> {
  const config = resolveClientConfig(overrides);
  // The CLI identity may read streams, not create them: a missing stream is reported by the rebuild.
  const nc = await connectAsCli(config, 'cloudai-rebuild');
  try {
    const readModel = ReadModel.open({ dataDir: config.dataDir });
    const started = Date.now();
    const results = await rebuildReadModel({
      nc,
      readModel,
      onProgress: (progress) => {
        const percent = progress.lastSeq ? Math.floor((progress.streamSeq / progress.lastSeq) * 100) : 100;
        process.stderr.write(
          `\rrebuilding ${readModel.path} from ${progress.stream}: ${progress.streamSeq}/${progress.lastSeq} (${percent}%)`,
        );
      },
    });
    const workers = readModel.listWorkers({ uptime: false }).length;
    const tasks = readModel.listTasks().length;
    await readModel.close();
    process.stderr.write('\n');
    const [workerEvents, taskEvents] = results;
    process.stdout.write(
      `rebuilt ${workers} workers from ${workerEvents?.applied} events and ${tasks} tasks from ${taskEvents?.applied} ` +
        `events (${(workerEvents?.invalid ?? 0) + (taskEvents?.invalid ?? 0)} invalid skipped) in ${Date.now() - started} ms; ` +
        `positions ${results.map((result) => `${result.stream} ${result.lastSeq}`).join(', ')}\n`,
    );
  } finally {
    await nc.close();
  }
}
