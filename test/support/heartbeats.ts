import { type Heartbeat, type HeartbeatInput, heartbeatSchema } from '../../streams/contracts/heartbeat.js';

/** The example heartbeat of the design document, every field given. */
export const EXAMPLE_HEARTBEAT: HeartbeatInput = {
  workerId: 'tessa',
  sentAt: 1_764_300_000_000,
  seq: 42,
  address: '10.0.0.7:50052',
  capacity: { cpu: 8, memoryGb: 16, storageGb: 100, gpu: 1 },
  usage: { cpu: 0.31, memory: 0.42, storage: 0.1, gpu: 0 },
  runningTasks: [{ taskId: 't-1', cpu: 2, memoryGb: 4, gpu: 0 }],
};

/** A validated heartbeat from `workerId`: the example with its fields, and `overrides` on top. */
export function heartbeat(workerId: string, overrides: Partial<Heartbeat> = {}): Heartbeat {
  return heartbeatSchema.parse({ ...EXAMPLE_HEARTBEAT, workerId, ...overrides });
}
