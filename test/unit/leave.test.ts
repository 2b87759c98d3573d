import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { workerStats } from '../../projections/uptime.js';
import { evolveWorker, hasLostItsTasks, isSchedulable } from '../../projections/worker-document.js';
import { hardTimeoutOnly, knownWorker, startFleet } from '../support/liveness.js';
import { workerDocument } from '../support/workers.js';

const TIMEOUT_MS = 30_000;

test('a leave turns an active worker left at once, naming what it stopped; no timer fires after', () => {
  const { fleet, events, beat, clock, summary } = startFleet(hardTimeoutOnly(TIMEOUT_MS));
  beat('tessa');
  clock.increment(1_000);
  beat('tessa');
  clock.increment(500);
  assert.equal(fleet.leave('tessa', [{ taskId: 't-1', attempt: 2 }]), { ok: true });
  assert.is(fleet.statusOf('tessa'), 'left');
  assert.equal(events.at(-1), {
    type: 'WorkerLeft',
    workerId: 'tessa',
    at: 1_500,
    seq: 2,
    // The coalesced heartbeat at 1 000 was handed over before the leave.
    lastHeartbeatAt: 1_000,
    stoppedAttempts: [{ taskId: 't-1', attempt: 2 }],
    previousStretchMs: 1_500,
  });
  clock.increment(10 * TIMEOUT_MS);
  assert.equal(summary(), [
    ['tessa', 'WorkerRegistered', 1],
    ['tessa', 'WorkerLeft', 2],
  ]);
  assert.equal(fleet.countByStatus(), { active: 0, suspect: 0, inactive: 0, left: 1, removed: 0 });
  // A repeated leave changes nothing.
  assert.equal(fleet.leave('tessa', []), { ok: true });
  assert.is(events.length, 2);
  fleet.stop();
});

test('suspect and inactive workers may leave; unknown ones may not', () => {
  const { fleet, beat, clock, summary } = startFleet(hardTimeoutOnly(TIMEOUT_MS));
  beat('tessa');
  clock.increment(TIMEOUT_MS);
  assert.is(fleet.statusOf('tessa'), 'inactive');
  assert.equal(fleet.leave('tessa', []), { ok: true });
  assert.is(fleet.statusOf('tessa'), 'left');
  assert.equal(summary(), [
    ['tessa', 'WorkerRegistered', 1],
    ['tessa', 'WorkerInactive', 2],
    ['tessa', 'WorkerLeft', 3],
  ]);
  const unknown = fleet.leave('nobody', []);
  assert.is(unknown.ok, false);
  assert.match(unknown.ok ? '' : unknown.error, /worker nobody is not known/);
  fleet.stop();
});

test('a worker back after leaving is activated (not a flap) and times out again', () => {
  const { fleet, events, beat, clock, summary } = startFleet(hardTimeoutOnly(TIMEOUT_MS));
  for (let round = 0; round < 6; round++) {
    beat('tessa');
    clock.increment(100);
    fleet.leave('tessa', []);
    clock.increment(100);
  }
  beat('tessa');
  assert.is(fleet.statusOf('tessa'), 'active');
  assert.not.ok(
    events.some((event) => event.type === 'WorkerFlapping'),
    'planned restarts are no outages',
  );
  assert.equal(summary(-2), [
    ['tessa', 'WorkerLeft', 12],
    ['tessa', 'WorkerActivated', 13],
  ]);
  clock.increment(TIMEOUT_MS);
  assert.is(fleet.statusOf('tessa'), 'inactive');
  fleet.stop();
});

test('a left worker can be removed; a left one restored from the log stays left', () => {
  const { fleet, beat, clock } = startFleet(hardTimeoutOnly(TIMEOUT_MS));
  beat('tessa');
  fleet.leave('tessa', []);
  assert.equal(fleet.remove('tessa'), { ok: true });
  assert.is(fleet.statusOf('tessa'), 'removed');
  fleet.stop();

  const restarted = startFleet(hardTimeoutOnly(TIMEOUT_MS));
  restarted.fleet.restore([knownWorker('kim', { status: 'left', seq: 4, lastHeartbeatAt: 0 })], 0);
  restarted.clock.increment(10 * TIMEOUT_MS);
  assert.is(restarted.fleet.statusOf('kim'), 'left');
  assert.is(restarted.events.length, 0);
  restarted.beat('kim');
  assert.equal(restarted.summary(), [['kim', 'WorkerActivated', 5]]);
  restarted.fleet.stop();
  clock.increment(0);
});

test('the fold: left is its own status, not schedulable, tasks lost, its time counted nowhere', () => {
  const document = evolveWorker(workerDocument('tessa'), {
    type: 'WorkerLeft',
    workerId: 'tessa',
    at: 5_000,
    seq: 2,
    lastHeartbeatAt: 4_000,
    stoppedAttempts: [],
  });
  assert.is(document.status, 'left');
  assert.is(document.statusSince, 5_000);
  assert.is(document.lastHeartbeatAt, 4_000);
  assert.not.ok(isSchedulable(document));
  assert.ok(hasLostItsTasks(document));
  const stats = workerStats(document, 65_000);
  assert.is(stats.activeMs, 4_000, 'active until the leave, then nothing');
  assert.is(stats.inactiveMs, 0, 'a leave is no outage');
  assert.is(stats.outages, 0);
  assert.is(stats.availabilitySinceRegistration, 1);
  const back = evolveWorker(document, {
    type: 'WorkerActivated',
    workerId: 'tessa',
    at: 9_000,
    seq: 3,
    lastHeartbeatAt: 9_000,
  });
  assert.is(back.status, 'active');
  assert.is(back.registeredAt, 1_000);
  assert.is(workerStats(back, 10_000).activeMs, 5_000, '4 s before the leave, 1 s since');
});

test.run();
