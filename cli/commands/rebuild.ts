import { ReadModel } from '../../projections/read-model.js';
import { rebuildWorkerReadModel } from '../../projections/rebuild.js';
import { connectToNats } from '../../streams/connection.js';
import { type ConfigOverrides, resolveConfig } from '../config.js';
import { credentialsFor } from '../credentials.js';

/** `cloudai rebuild`: refolds the read model from WORKER_EVENTS, printing progress on stderr. */
export async function rebuildCommand(overrides: ConfigOverrides): Promise<void> {
  const config = resolveConfig(overrides);
  // The CLI identity may read streams, not create them: a missing stream is reported by the rebuild.
  const nc = await connectToNats({
    url: config.natsUrl,
    name: 'cloudai-rebuild',
    credentials: credentialsFor(config, { role: 'cli' }),
  });
  try {
    const readModel = ReadModel.open({ dataDir: config.dataDir });
    const started = Date.now();
    const result = await rebuildWorkerReadModel({
      nc,
      readModel,
      onProgress: (progress) => {
        const percent = progress.lastSeq ? Math.floor((progress.streamSeq / progress.lastSeq) * 100) : 100;
        process.stderr.write(
          `\rrebuilding ${readModel.path}: ${progress.streamSeq}/${progress.lastSeq} (${percent}%)`,
        );
      },
    });
    const workers = readModel.listWorkers().length;
    await readModel.close();
    process.stderr.write('\n');
    process.stdout.write(
      `rebuilt ${workers} workers from ${result.applied} events (${result.invalid} invalid skipped) ` +
        `in ${Date.now() - started} ms; position ${result.lastSeq}\n`,
    );
  } finally {
    await nc.close();
  }
}
