import { Fleet } from '../actors/fleet.js';
import { DEFAULT_CONFIG } from '../cli/config.js';
import { livenessSettingsOf } from '../control-plane/settings.js';
import {
  type Capacity,
  decodeHeartbeat,
  encodeHeartbeat,
  type Heartbeat,
} from '../streams/contracts/heartbeat.js';
import { heartbeatSubject } from '../streams/contracts/subjects.js';
import { BENCH_WORKER_PREFIX, workerIdFor } from './load/load-protocol.js';

/**
 * Child process of the memory benchmark (run with --expose-gc): tracks N workers one way and
 * prints the heap they take after a full GC, as one JSON line on stdout.
 *   node --expose-gc memory-probe.js <fleet|map> <workers>
 */

export type MemoryProbeKind = 'fleet' | 'map';

export interface MemoryProbeResult {
  kind: MemoryProbeKind;
  workers: number;
  heapBytes: number;
  bytesPerWorker: number;
}

/** What a hand-written monitor would keep per worker: a plain record and its own timer. */
interface PlainWorkerRecord {
  workerId: string;
  status: 'active' | 'inactive';
  lastHeartbeatAt: number;
  address: string;
  capacity: Capacity;
  timer: NodeJS.Timeout;
}

const collectGarbage = (globalThis as { gc?: () => void }).gc;

/** The JS heap plus array buffers' backing stores (a φ window's samples live outside the heap). */
function memoryAfterFullGc(): number {
  if (!collectGarbage) throw new Error('run with --expose-gc');
  // Several passes: weak references and finalisers need more than one to settle.
  for (let pass = 0; pass < 4; pass++) collectGarbage();
  const { heapUsed, arrayBuffers } = process.memoryUsage();
  return heapUsed + arrayBuffers;
}

/** Heartbeats as the intake hands them over: decoded from the wire, so their objects are realistic. */
function heartbeatOf(index: number): Heartbeat {
  const workerId = workerIdFor(BENCH_WORKER_PREFIX, index);
  const payload = encodeHeartbeat({
    workerId,
    sentAt: Date.now(),
    seq: 1,
    address: `127.0.0.1:${50_000 + (index % 10_000)}`,
    capacity: { cpu: 8, memoryGb: 16, storageGb: 100, gpu: 1 },
    usage: { cpu: 0.31, memory: 0.42, storage: 0.1, gpu: 0 },
    runningTasks: [],
  });
  const decoded = decodeHeartbeat(heartbeatSubject(workerId), payload, DEFAULT_CONFIG.maxHeartbeatBytes);
  if (!decoded.ok) throw new Error(decoded.detail);
  return decoded.heartbeat;
}

function measure(kind: MemoryProbeKind, workers: number): MemoryProbeResult {
  const timeoutMs = DEFAULT_CONFIG.heartbeatTimeoutMs;
  const before = memoryAfterFullGc();
  let release: () => void;
  if (kind === 'fleet') {
    const fleet = new Fleet({
      settings: livenessSettingsOf(DEFAULT_CONFIG),
      maxWorkers: workers,
      onEvent: () => {},
    });
    // Two rounds: the second is the steady state (a known worker beating again).
    for (let round = 0; round < 2; round++) {
      for (let index = 0; index < workers; index++) fleet.receiveHeartbeat(heartbeatOf(index), Date.now());
    }
    release = () => fleet.stop();
  } else {
    const records = new Map<string, PlainWorkerRecord>();
    for (let round = 0; round < 2; round++) {
      for (let index = 0; index < workers; index++) {
        const heartbeat = heartbeatOf(index);
        const existing = records.get(heartbeat.workerId);
        if (existing) clearTimeout(existing.timer);
        const record: PlainWorkerRecord = {
          workerId: heartbeat.workerId,
          status: 'active',
          lastHeartbeatAt: Date.now(),
          address: heartbeat.address,
          capacity: heartbeat.capacity,
          timer: setTimeout(() => {
            record.status = 'inactive';
          }, timeoutMs),
        };
        records.set(heartbeat.workerId, record);
      }
    }
    release = () => {
      for (const record of records.values()) clearTimeout(record.timer);
      records.clear();
    };
  }
  const heapBytes = memoryAfterFullGc() - before;
  release();
  return { kind, workers, heapBytes, bytesPerWorker: heapBytes / workers };
}

const [kind, workers] = [process.argv[2], Number(process.argv[3])];
if ((kind !== 'fleet' && kind !== 'map') || !Number.isInteger(workers) || workers <= 0) {
  process.stderr.write('usage: memory-probe.js <fleet|map> <workers>\n');
  process.exit(2);
}
process.stdout.write(`${JSON.stringify(measure(kind, workers))}\n`);
process.exit(0);
