import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseDuration } from '../../cli/terminal.js';
import { DrainCoordinator } from '../../control-plane/drain-coordinator.js';
import { describeDrain } from '../../projections/status-presentation.js';
import { evolveWorker, isSchedulable, type WorkerDocument } from '../../projections/worker-document.js';
import { silentLogger } from '../../streams/util/logger.js';
import { hardTimeoutOnly, startFleet } from '../support/liveness.js';
import { workerDocument } from '../support/workers.js';

const TIMEOUT_MS = 30_000;

/** A fleet with one active worker and a coordinator whose task counts the test sets. */
function drainingFleet() {
  const started = startFleet(hardTimeoutOnly(TIMEOUT_MS));
  const held = new Map<string, number>();
  const drains = new DrainCoordinator({
    fleet: started.fleet,
    tasksHeldBy: (workerId) => held.get(workerId) ?? 0,
    logger: silentLogger,
    clock: started.clock,
  });
  started.beat('tessa');
  return { ...started, held, drains };
}

test('a drain follows its tasks: progress, then drained when none is left; the worker stays cordoned', () => {
  const { fleet, events, clock, held, drains, summary, beat } = drainingFleet();
  held.set('tessa', 2);
  assert.equal(drains.start('tessa', 60_000), { ok: true });
  assert.equal(events.at(-1), {
    type: 'WorkerDrainStarted',
    workerId: 'tessa',
    at: 0,
    seq: 2,
    deadlineMs: 60_000,
    remainingTasks: 2,
  });
  const again = drains.start('tessa', 1_000);
  assert.ok(!again.ok && /tessa is draining already/.test(again.error));
  clock.increment(1_000);
  held.set('tessa', 1);
  drains.holdingsChanged(['tessa', 'kim']);
  drains.holdingsChanged(['tessa']);
  held.set('tessa', 0);
  drains.holdingsChanged(['tessa']);
  assert.equal(summary(1), [
    ['tessa', 'WorkerDrainStarted', 2],
    ['tessa', 'WorkerDrainProgress', 3],
    ['tessa', 'WorkerDrained', 4],
  ]);
  assert.equal(events.at(-1), {
    type: 'WorkerDrained',
    workerId: 'tessa',
    at: 1_000,
    seq: 4,
    endedBy: 'tasks-finished',
    remainingTasks: 0,
  });
  assert.is(drains.underWay, 0);
  clock.increment(120_000);
  beat('tessa');
  assert.is(
    events.filter((event) => event.type === 'WorkerDrained').length,
    1,
    'the deadline timer was cancelled',
  );
  assert.equal(fleet.uncordon('tessa'), { ok: true });
  fleet.stop();
});

test('at the deadline the drain ends with the tasks still there; a drain without tasks ends at once', () => {
  const { fleet, events, clock, held, drains, beat } = drainingFleet();
  held.set('tessa', 3);
  drains.start('tessa', 5_000);
  clock.increment(4_999);
  assert.is(events.at(-1)?.type, 'WorkerDrainStarted');
  clock.increment(1);
  assert.equal(events.at(-1), {
    type: 'WorkerDrained',
    workerId: 'tessa',
    at: 5_000,
    seq: 3,
    endedBy: 'deadline',
    remainingTasks: 3,
  });
  beat('kim');
  drains.start('kim', 5_000);
  assert.equal(
    events.slice(-2).map((event) => event.type),
    ['WorkerDrainStarted', 'WorkerDrained'],
  );
  fleet.stop();
});

test('cancel: refused when not draining; otherwise the deadline no longer fires', () => {
  const { fleet, events, clock, held, drains } = drainingFleet();
  const refused = drains.cancel('tessa');
  assert.ok(!refused.ok && /tessa is not draining/.test(refused.error));
  held.set('tessa', 1);
  drains.start('tessa', 5_000);
  assert.equal(drains.cancel('tessa'), { ok: true });
  assert.is(events.at(-1)?.type, 'WorkerDrainCancelled');
  clock.increment(10_000);
  assert.is(events.at(-1)?.type, 'WorkerDrainCancelled');
  fleet.stop();
});

test('after a restart the drain is taken up from the log, its deadline re-armed', () => {
  const restarted = startFleet(hardTimeoutOnly(TIMEOUT_MS));
  restarted.clock.set(100_000);
  restarted.fleet.restore([
    {
      workerId: 'tessa',
      status: 'active',
      seq: 2,
      lastHeartbeatAt: 99_000,
      address: 'a',
      capacity: { cpu: 1, memoryGb: 1, storageGb: 0, gpu: 0 },
      flapping: false,
      cordoned: false,
      draining: true,
    },
  ]);
  const drains = new DrainCoordinator({
    fleet: restarted.fleet,
    tasksHeldBy: () => 2,
    logger: silentLogger,
    clock: restarted.clock,
  });
  const document = {
    workerId: 'tessa',
    drain: { startedAt: 90_000, deadlineAt: 103_000, remainingTasks: 2 },
  } as WorkerDocument;
  drains.restore([document]);
  assert.is(drains.underWay, 1);
  restarted.clock.increment(2_999);
  assert.is(restarted.events.length, 0);
  restarted.clock.increment(1);
  assert.equal(restarted.summary(), [['tessa', 'WorkerDrained', 3]]);
  restarted.fleet.stop();
});

test('the fold: draining is not schedulable, progress is kept, drained means cordoned, cancel clears it', () => {
  let document = evolveWorker(workerDocument('tessa'), {
    type: 'WorkerDrainStarted',
    workerId: 'tessa',
    at: 2_000,
    seq: 2,
    deadlineMs: 60_000,
    remainingTasks: 2,
  });
  assert.equal(document.drain, { startedAt: 2_000, deadlineAt: 62_000, remainingTasks: 2 });
  assert.not.ok(isSchedulable(document));
  assert.is(
    describeDrain(document.drain as NonNullable<WorkerDocument['drain']>, 2_000),
    'draining (2 tasks, deadline in 1m00s)',
  );
  document = evolveWorker(document, {
    type: 'WorkerDrainProgress',
    workerId: 'tessa',
    at: 3_000,
    seq: 3,
    remainingTasks: 1,
  });
  assert.is(document.drain?.remainingTasks, 1);
  const cancelled = evolveWorker(document, {
    type: 'WorkerDrainCancelled',
    workerId: 'tessa',
    at: 4_000,
    seq: 4,
  });
  assert.is(cancelled.drain, null);
  assert.ok(isSchedulable(cancelled));
  const drained = evolveWorker(document, {
    type: 'WorkerDrained',
    workerId: 'tessa',
    at: 4_000,
    seq: 4,
    endedBy: 'deadline',
    remainingTasks: 1,
  });
  assert.is(drained.drain, null);
  assert.ok(drained.cordoned);
  assert.not.ok(isSchedulable(drained));
});

test('durations as operators write them', () => {
  assert.is(parseDuration('1h'), 3_600_000);
  assert.is(parseDuration('1h30m'), 5_400_000);
  assert.is(parseDuration('90s'), 90_000);
  assert.is(parseDuration('500ms'), 500);
  assert.is(parseDuration('2d'), 172_800_000);
  assert.is(parseDuration('1.5s'), 1_500);
  for (const bad of ['', 'abc', '10', '1h junk', '0s', '-5m', 'h'])
    assert.is(parseDuration(bad), undefined, bad);
});

test.run();
