import { ReadModel } from '../projections/read-model.js';

/**
 * What a read-only command does with the read model: open it read-only, read one consistent
 * snapshot, close it. A missing read model raises ReadModelMissingError, with its advice.
 */
export async function readSnapshot<T>(dataDir: string, read: (view: ReadModel) => T): Promise<T> {
  const readModel = ReadModel.open({ dataDir, readOnly: true });
  try {
    return readModel.snapshot(read);
  } finally {
    await readModel.close();
  }
}
