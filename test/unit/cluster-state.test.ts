import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { describeDisruption } from '../../cli/commands/operator.js';
import { type DisruptionDocument, NO_DISRUPTION } from '../../projections/disruption-document.js';
import { ClusterState } from '../../scheduler/cluster-state.js';
import type { DisruptionEvent } from '../../streams/contracts/worker-events.js';
import { taskFrom } from '../support/tasks.js';
import { workerDocument } from '../support/workers.js';

const started: DisruptionEvent = {
  type: 'DisruptionStarted',
  at: 10_000,
  seq: 1,
  unhealthyWorkers: 7,
  consideredWorkers: 10,
  thresholdPercent: 55,
};
const ended: DisruptionEvent = { type: 'DisruptionEnded', at: 70_000, seq: 2, endedBy: 'operator' };

function stateWith(disruption: DisruptionDocument): ClusterState {
  return new ClusterState({
    workers: [workerDocument('kim')],
    tasks: [],
    disruption,
    workerPosition: 5,
    taskPosition: 0,
  });
}

test('the scheduler starts in the disruption mode the read model holds, and folds its changes', () => {
  const state = stateWith(NO_DISRUPTION);
  assert.is(state.disruption.active, false);
  const start = state.applyDisruptionEvent(started);
  assert.equal([start?.before.active, start?.after.active], [false, true]);
  assert.is(state.disruption.active, true);
  // A redelivered event changes nothing.
  assert.is(state.applyDisruptionEvent(started), undefined);
  const end = state.applyDisruptionEvent(ended);
  assert.equal([end?.before.active, end?.after.active, end?.after.endedBy], [true, false, 'operator']);

  const restarted = stateWith(state.disruption);
  assert.is(restarted.disruption.active, false);
  assert.is(restarted.applyDisruptionEvent(ended), undefined, 'seq 2 is already reflected');
  assert.is(stateWith({ ...NO_DISRUPTION, active: true, lastEventSeq: 1 }).disruption.active, true);
});

test('`cloudai disruption status` says whether the mode is on, since when, and how it last ended', () => {
  const state = stateWith(NO_DISRUPTION);
  assert.is(describeDisruption(state.disruption, 0), 'no disruption mode: there has been none');
  state.applyDisruptionEvent(started);
  assert.is(
    describeDisruption(state.disruption, 75_000),
    'disruption mode for 1m05s: 7 of 10 workers went silent at once.\n' +
      'No worker is declared inactive and no task is requeued until heartbeats return or ' +
      '`cloudai disruption end`; new tasks are still placed on schedulable workers.',
  );
  state.applyDisruptionEvent({ ...ended, endedBy: 'heartbeats' });
  assert.is(
    describeDisruption(state.disruption, 100_000),
    'no disruption mode: the last one ended 30s ago, when heartbeats returned',
  );
});

test('placement hears of the workers whose document or holdings changed, and sees only queued tasks', () => {
  const state = new ClusterState({
    workers: [workerDocument('kim'), workerDocument('ravi')],
    tasks: [taskFrom('t-2', 2_000), taskFrom('t-1', 1_000)],
    disruption: NO_DISRUPTION,
    workerPosition: 5,
    taskPosition: 2,
  });
  assert.equal([...state.takeChangedWorkers()].sort(), ['kim', 'ravi'], 'every worker at first');
  assert.equal([...state.takeChangedWorkers()], [], 'then only changes');
  assert.equal(
    state.queued().map((task) => task.taskId),
    ['t-1', 't-2'],
    'oldest first',
  );
  const assigned = state.applyTaskEvent({
    type: 'TaskAssigned',
    taskId: 't-1',
    at: 3_000,
    workerId: 'ravi',
    attempt: 1,
    basedOnWorkerSeq: 5,
    policy: 'rts',
  });
  assert.ok(assigned.applied);
  assert.equal([...state.takeChangedWorkers()], ['ravi'], 'its holdings grew');
  assert.equal(
    state.queued().map((task) => task.taskId),
    ['t-2'],
  );
  assert.is(state.queuedCount, 1);
  state.applyTaskEvent({
    type: 'TaskRequeued',
    taskId: 't-1',
    at: 4_000,
    workerId: 'ravi',
    attempt: 1,
    reason: 'x',
  });
  assert.equal([...state.takeChangedWorkers()], ['ravi'], 'its holdings shrank');
  assert.equal(
    state.queued().map((task) => task.taskId),
    ['t-1', 't-2'],
  );
});

test.run();
