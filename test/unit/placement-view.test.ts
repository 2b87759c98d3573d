import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { NO_DISRUPTION } from '../../projections/disruption-document.js';
import type { WorkerDocument } from '../../projections/worker-document.js';
import { ClusterState } from '../../scheduler/cluster-state.js';
import { PendingDecisions } from '../../scheduler/pending-decisions.js';
import { PlacementView } from '../../scheduler/placement-view.js';
import { workerDocument } from '../support/workers.js';

const FLEET = 2_500;
const CHUNK = 1_000;

function fleetView(workers: WorkerDocument[]) {
  const state = new ClusterState({
    workers,
    tasks: [],
    disruption: NO_DISRUPTION,
    workerPosition: 1,
    taskPosition: 0,
  });
  const pending = new PendingDecisions();
  const view = new PlacementView({ state, pending, indexWhenQuietMs: 20, indexChunk: CHUNK });
  return { state, pending, view };
}

const registeredFleet = () =>
  Array.from({ length: FLEET }, (_, index) => workerDocument(`w${String(index).padStart(5, '0')}`));

test('once workers stop changing, the view indexes them a chunk per turn, without a pass', async () => {
  const { view } = fleetView(registeredFleet());
  view.workersChanged();
  view.workersChanged();
  assert.is(view.workers.size, 0, 'nothing is indexed while workers keep changing');
  // What the view holds at each turn of the event loop until it is done.
  const sizesSeen: number[] = [];
  let watching = true;
  const watch = () => {
    sizesSeen.push(view.workers.size);
    if (watching) setImmediate(watch);
  };
  watch();
  await view.whenIndexed();
  watching = false;
  assert.is(view.workers.size, FLEET);
  assert.is(view.workers.schedulableCount, FLEET);
  assert.is(view.unindexedCount, 0);
  assert.ok(
    sizesSeen.some((size) => size > 0 && size < FLEET),
    `indexed over several turns, not at once (sizes seen: ${[...new Set(sizesSeen)].join(', ')})`,
  );
  assert.ok(
    sizesSeen.every((size) => size % CHUNK === 0 || size === FLEET),
    'a chunk at a time',
  );
  view.close();
});

test('a pass brings in every change at once, with the reservations of pending assignments', () => {
  const workers = registeredFleet();
  workers[0] = workerDocument('w00000', {
    capacity: { cpu: 8, memoryGb: 16, storageGb: 100, gpu: 0, runtime: 'process' },
  });
  const { view, pending } = fleetView(workers);
  view.workersChanged();
  pending.add({
    messageId: 'm-1',
    taskId: 't-1',
    kind: 'assign',
    workerId: 'w00001',
    requests: { cpu: 2, memoryGb: 1, storageGb: 0, gpu: 0 },
  });
  view.update();
  assert.is(view.workers.size, FLEET);
  assert.is(view.unindexedCount, 0);
  assert.equal([...view.hostWorkers], ['w00000'], 'by runtime, for the host-task rule');
  assert.is(view.containerWorkers.size, 0);
  const reserved = view.workers.slotOf('w00001') as number;
  assert.is(view.workers.passAllocated.cpu[reserved], 2, 'the pending assignment holds its share');
  view.close();
});

test('a worker that turns inactive leaves the schedulable ones; close stops indexing ahead', async () => {
  const { state, view } = fleetView(registeredFleet());
  view.update();
  state.applyWorkerEvent({
    type: 'WorkerInactive',
    workerId: 'w00002',
    at: 5_000,
    seq: 2,
    lastHeartbeatAt: 1_000,
    silentForMs: 4_000,
  });
  view.workersChanged();
  view.close();
  await view.whenIndexed();
  assert.is(view.workers.schedulableCount, FLEET, 'closed before the quiet time: not indexed');
  view.update();
  assert.is(view.workers.schedulableCount, FLEET - 1, 'a pass still brings it in');
  assert.is(view.workers.statusOf(view.workers.slotOf('w00002') as number), 'inactive');
});

test.run();
