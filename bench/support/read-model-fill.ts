import { ReadModel } from '../../projections/read-model.js';
import { NO_RESOURCES } from '../../projections/resources.js';
import { startUptime } from '../../projections/uptime.js';
import type { WorkerDocument } from '../../projections/worker-document.js';
import { WORKER_EVENTS_STREAM } from '../../streams/contracts/subjects.js';
import {
  BENCH_WORKER_PREFIX,
  SIMULATED_CAPACITY,
  simulatedAddress,
  workerIdFor,
} from '../load/load-protocol.js';

const WRITE_BATCH = 10_000;

/** Writes `workers` documents straight into a read model in `dataDir`: one in ten inactive. */
export async function fillReadModel(dataDir: string, workers: number): Promise<void> {
  await writeWorkerDocuments({
    dataDir,
    workers,
    documentAt: documentOf,
    streamPosition: workers,
  });
}

/**
 * Writes `workers` active documents, as a control plane that registered the simulated workers of
 * bench/load earlier would have them (their address and capacity), into a read model that has
 * followed no stream yet: the fleet of a steady-state benchmark, without a registration burst.
 */
export async function fillActiveReadModel(dataDir: string, workers: number): Promise<void> {
  await writeWorkerDocuments({
    dataDir,
    workers,
    documentAt: (index, now) => ({
      ...documentOf(index, now, 'active'),
      address: simulatedAddress(index),
      capacity: { ...SIMULATED_CAPACITY },
    }),
  });
}

interface WorkerDocumentsFill {
  dataDir: string;
  workers: number;
  /** The document of the worker at `index`, its times relative to `now`. */
  documentAt: (index: number, now: number) => WorkerDocument;
  /** The position on the worker events stream to record; none: the read model followed no stream. */
  streamPosition?: number;
}

/** Puts the documents of workers 0 to `workers - 1` in batches, then closes the read model. */
async function writeWorkerDocuments(fill: WorkerDocumentsFill): Promise<void> {
  const readModel = ReadModel.open({ dataDir: fill.dataDir });
  try {
    const now = Date.now();
    for (let start = 0; start < fill.workers; start += WRITE_BATCH) {
      await readModel.write(() => {
        for (let index = start; index < Math.min(fill.workers, start + WRITE_BATCH); index++) {
          readModel.putWorker(fill.documentAt(index, now));
        }
      });
    }
    const { streamPosition } = fill;
    if (streamPosition !== undefined) {
      await readModel.write(() => readModel.setPosition(WORKER_EVENTS_STREAM, streamPosition));
    }
  } finally {
    await readModel.close();
  }
}

export function documentOf(
  index: number,
  now: number,
  // One in ten inactive by default, so the table shows both kinds.
  status: 'active' | 'inactive' = index % 10 === 0 ? 'inactive' : 'active',
): WorkerDocument {
  return {
    workerId: workerIdFor(BENCH_WORKER_PREFIX, index),
    status,
    address: `10.0.${(index >> 8) & 255}.${index & 255}:50052`,
    capacity: { cpu: 8, memoryGb: 16, storageGb: 100, gpu: index % 4 === 0 ? 1 : 0 },
    usage: { cpu: 0.31, memory: 0.42, storage: 0.1, gpu: 0 },
    lastHeartbeatAt: now - (index % 5_000),
    statusSince: now - 60_000,
    registeredAt: now - 3_600_000,
    flapping: false,
    cordoned: false,
    lastEventSeq: status === 'inactive' ? 2 : 1,
    allocated: NO_RESOURCES,
    taskIds: [],
    // The size of a steady worker's record (ended stretches only: the current one is added when read).
    uptime: startUptime({ status, since: now - 60_000 }),
  };
}
