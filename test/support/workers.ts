import { NO_RESOURCES } from '../../projections/resources.js';
import type { WorkerDocument } from '../../projections/worker-document.js';

/** A worker document as the read model holds it; tests give only what they look at. */
export function workerDocument(workerId: string, overrides: Partial<WorkerDocument> = {}): WorkerDocument {
  return {
    workerId,
    status: 'active',
    address: '10.0.0.7:50052',
    capacity: { cpu: 8, memoryGb: 16, storageGb: 100, gpu: 0 },
    usage: { cpu: 0, memory: 0, storage: 0, gpu: 0 },
    lastHeartbeatAt: 1_000,
    statusSince: 1_000,
    registeredAt: 1_000,
    lastEventSeq: 1,
    flapping: false,
    cordoned: false,
    allocated: NO_RESOURCES,
    taskIds: [],
    ...overrides,
  };
}
