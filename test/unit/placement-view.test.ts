import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SimulatedClock } from 'xstate';
import { NO_DISRUPTION } from '../../projections/disruption-document.js';
import type { WorkerDocument } from '../../projections/worker-document.js';
import { ClusterState } from '../../scheduler/cluster-state.js';
import { PendingDecisions } from '../../scheduler/pending-decisions.js';
import { PlacementView } from '../../scheduler/placement-view.js';
import { workerDocument } from '../support/workers.js';

const FLEET = 2_500;
const CHUNK = 1_000;
const QUIET_MS = 20;

/** A view on a simulated clock; `nextChunk` runs the chunk it scheduled, as the next turn of the loop would. */
function fleetView(workers: WorkerDocument[]) {
  const state = new ClusterState({
    workers,
    tasks: [],
    disruption: NO_DISRUPTION,
    workerPosition: 1,
    taskPosition: 0,
  });
  const pending = new PendingDecisions();
  const clock = new SimulatedClock();
  const scheduled: (() => void)[] = [];
  const view = new PlacementView({
    state,
    pending,
    clock,
    continueLater: (resume) => scheduled.push(resume),
    indexWhenQuietMs: QUIET_MS,
    indexChunk: CHUNK,
  });
  const nextChunk = () => {
    const resume = scheduled.shift();
    assert.ok(resume, 'a chunk is scheduled');
    resume();
  };
  return { state, pending, view, clock, scheduled, nextChunk };
}

const registeredFleet = () =>
  Array.from({ length: FLEET }, (_, index) => workerDocument(`w${String(index).padStart(5, '0')}`));

test('once workers stop changing, the view indexes them a chunk per turn, without a pass', () => {
  const { view, clock, scheduled, nextChunk } = fleetView(registeredFleet());
  view.workersChanged();
  clock.increment(QUIET_MS / 2);
  view.workersChanged();
  clock.increment(QUIET_MS - 1);
  assert.is(view.workers.size, 0, 'nothing is indexed while workers keep changing');
  clock.increment(1);
  assert.is(view.workers.size, CHUNK, 'quiet long enough: the first chunk');
  nextChunk();
  assert.is(view.workers.size, 2 * CHUNK, 'the next turn: the next chunk');
  nextChunk();
  assert.is(view.workers.size, FLEET);
  assert.is(view.workers.schedulableCount, FLEET);
  assert.is(scheduled.length, 0, 'done: nothing more scheduled');
  view.close();
});

test('a pass brings in every change at once, with the reservations of pending assignments', () => {
  const workers = registeredFleet();
  workers[0] = workerDocument('w00000', {
    capacity: { cpu: 8, memoryGb: 16, storageGb: 100, gpu: 0, runtime: 'process' },
  });
  const { view, pending, scheduled } = fleetView(workers);
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
  assert.equal([...view.hostWorkers], ['w00000'], 'by runtime, for the host-task rule');
  assert.is(view.containerWorkers.size, 0);
  const reserved = view.workers.slotOf('w00001') as number;
  assert.is(view.workers.passAllocated.cpu[reserved], 2, 'the pending assignment holds its share');
  assert.is(scheduled.length, 0, 'no indexing ahead was needed');
  view.close();
});

test('a worker that turns inactive leaves the schedulable ones; close stops indexing ahead', () => {
  const { state, view, clock, scheduled } = fleetView(registeredFleet());
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
  clock.increment(QUIET_MS * 10);
  assert.is(view.workers.schedulableCount, FLEET, 'closed before the quiet time: not indexed');
  assert.is(scheduled.length, 0);
  view.update();
  assert.is(view.workers.schedulableCount, FLEET - 1, 'a pass still brings it in');
  assert.is(view.workers.statusOf(view.workers.slotOf('w00002') as number), 'inactive');
});

test.run();
