/**
 * Run as its own process by the reader-consistency test: reads the read model the way
 * `cloudai workers` does (read-only LMDB, one snapshot per read) in a tight loop and checks
 * that every snapshot is a whole number of batches: the documents' event numbers add up to
 * the count of applied events stored with them (the stream position also counts the control
 * planes' partition markers). Prints one JSON line with what it saw.
 */
import { ReadModel } from '../../projections/read-model.js';
import { WORKER_EVENTS_STREAM } from '../../streams/contracts/subjects.js';

const [dataDir, durationArg] = process.argv.slice(2);
const durationMs = Number(durationArg);
const result = { snapshots: 0, violations: 0, firstViolation: '', lastPosition: 0, errors: 0 };
let readModel: ReadModel | undefined;
const deadline = Date.now() + durationMs;
while (Date.now() < deadline) {
  try {
    readModel ??= ReadModel.open({ dataDir: dataDir as string, readOnly: true });
    const { position, applied, eventsInDocuments } = readModel.snapshot((view) => ({
      position: view.position(WORKER_EVENTS_STREAM),
      applied: view.appliedCount(WORKER_EVENTS_STREAM),
      eventsInDocuments: view.listWorkers().reduce((sum, worker) => sum + worker.lastEventSeq, 0),
    }));
    result.snapshots++;
    result.lastPosition = position;
    if (applied !== eventsInDocuments) {
      result.violations++;
      result.firstViolation ||= `${applied} events applied (position ${position}) but documents hold ${eventsInDocuments}`;
    }
  } catch (error) {
    result.errors++;
    result.firstViolation ||= `error: ${(error as Error).message}`;
  }
}
await readModel?.close();
process.stdout.write(`${JSON.stringify(result)}\n`);
