import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FleetIndex, type WorkerQuery } from '../../control-plane/dashboard/fleet-index.js';
import { NO_DISRUPTION } from '../../projections/disruption-document.js';
import { ReadModel } from '../../projections/read-model.js';
import { NO_RESOURCES } from '../../projections/resources.js';
import type { WorkerDocument } from '../../projections/worker-document.js';
import type { WorkerStatus } from '../../streams/contracts/worker-events.js';
import { makeTempDir } from '../support/nats.js';

function documentOf(workerId: string, status: WorkerStatus, lastHeartbeatAt: number): WorkerDocument {
  return {
    workerId,
    status,
    address: `10.0.0.${lastHeartbeatAt % 250}:50052`,
    capacity: { cpu: 4, memoryGb: 8, storageGb: 100, gpu: 0 },
    usage: { cpu: lastHeartbeatAt / 1_000, memory: 0, storage: 0, gpu: 0 },
    lastHeartbeatAt,
    statusSince: 0,
    registeredAt: 0,
    lastEventSeq: 1,
    flapping: false,
    cordoned: false,
    allocated: NO_RESOURCES,
    taskIds: [],
  };
}

const query = (change: Partial<WorkerQuery>): WorkerQuery => ({
  page: 1,
  size: 50,
  sort: 'id',
  descending: false,
  statuses: new Set<WorkerStatus>(['active', 'suspect', 'inactive']),
  search: '',
  ...change,
});

test('the fleet index pages, sorts, filters and searches the read model, and follows applied documents', async () => {
  const dataDir = makeTempDir('fleet-index');
  const readModel = ReadModel.open({ dataDir: dataDir.path });
  try {
    const statuses: WorkerStatus[] = ['active', 'active', 'suspect', 'inactive', 'removed'];
    await readModel.write(() => {
      for (let index = 0; index < 250; index++) {
        const id = `w${String(index).padStart(3, '0')}`;
        readModel.putWorker(documentOf(id, statuses[index % 5] as WorkerStatus, 1_000 - index));
      }
    });
    const index = new FleetIndex(readModel);
    assert.equal(index.summary, {
      total: 250,
      active: 100,
      suspect: 50,
      inactive: 50,
      left: 0,
      removed: 50,
      schedulable: 100,
      cordoned: 0,
      draining: 0,
      flapping: 0,
    });
    const ids = (page: { workers: WorkerDocument[] }) => page.workers.map((worker) => worker.workerId);
    const first = index.query(query({ size: 3 }));
    assert.is(first.total, 200, 'removed workers are left out unless asked for');
    assert.equal(ids(first), ['w000', 'w001', 'w002']);
    assert.equal(ids(index.query(query({ size: 3, page: 2, descending: true }))), ['w245', 'w243', 'w242']);
    const suspect = index.query(query({ statuses: new Set(['suspect']), size: 2, page: 3 }));
    assert.is(suspect.total, 50);
    assert.equal(ids(suspect), ['w022', 'w027']);
    const search = index.query(
      query({ search: '24', statuses: new Set(['active', 'suspect', 'inactive', 'removed']) }),
    );
    assert.equal(ids(search), [
      'w024',
      'w124',
      'w224',
      'w240',
      'w241',
      'w242',
      'w243',
      'w244',
      'w245',
      'w246',
      'w247',
      'w248',
      'w249',
    ]);
    assert.is(search.total, 13);
    // Oldest heartbeat first: the highest index was seen longest ago.
    assert.equal(ids(index.query(query({ sort: 'lastSeen', size: 2 }))), ['w248', 'w247']);
    assert.equal(ids(index.query(query({ sort: 'status', size: 2, page: 51 }))), ['w002', 'w007']);
    assert.equal(index.query(query({ page: 99 })).workers, []);

    index.apply(
      [{ ...documentOf('w001', 'inactive', 2_000), cordoned: true }, documentOf('a-new', 'active', 5)],
      NO_DISRUPTION,
    );
    assert.equal(index.summary, {
      total: 251,
      active: 100,
      suspect: 50,
      inactive: 51,
      left: 0,
      removed: 50,
      schedulable: 100,
      cordoned: 1,
      draining: 0,
      flapping: 0,
    });
    assert.equal(
      ids(index.query(query({ size: 2 }))),
      ['a-new', 'w000'],
      'a new worker takes its place in id order',
    );
    assert.is(index.get('w001')?.status, 'inactive');
  } finally {
    await readModel.close();
    dataDir.remove();
  }
});

test.run();
