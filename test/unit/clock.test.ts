import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SimulatedClock } from 'xstate';
import { Fleet } from '../../actors/fleet.js';
import type { WorkerStreamEvent } from '../../streams/contracts/worker-events.js';
import { type Clock, fromWallTime, MONOTONIC_CLOCK, toWallTime, wallNow } from '../../streams/util/clock.js';
import { heartbeat } from '../support/heartbeats.js';
import { hardTimeoutOnly, knownWorker } from '../support/liveness.js';

const TIMEOUT_MS = 30_000;

/** A simulated monotonic clock beside a wall clock the test may step at will. */
function steppableClock() {
  const monotonic = new SimulatedClock();
  let wallOffset = 1_000_000;
  const clock: Clock = {
    setTimeout: (callback, delayMs) => monotonic.setTimeout(callback, delayMs),
    clearTimeout: (handle) => monotonic.clearTimeout(handle as number),
    now: () => monotonic.now(),
    wallNow: () => monotonic.now() + wallOffset,
  };
  return {
    clock,
    monotonic,
    step: (ms: number) => {
      wallOffset += ms;
    },
  };
}

function fleetOn(clock: Clock) {
  const events: WorkerStreamEvent[] = [];
  const fleet = new Fleet({
    settings: hardTimeoutOnly(TIMEOUT_MS),
    clock,
    maxWorkers: 10,
    onEvent: (event) => events.push(event),
  });
  return { fleet, events };
}

test('deadlines ignore wall-clock steps; events carry the wall clock as it reads when they leave', () => {
  const { clock, monotonic, step } = steppableClock();
  const { fleet, events } = fleetOn(clock);
  fleet.receiveHeartbeat(heartbeat('tessa'), clock.now());
  assert.equal(events[0]?.at, 1_000_000, 'registered at the wall-clock time');
  step(10 * 60_000);
  monotonic.increment(TIMEOUT_MS - 1);
  assert.is(fleet.statusOf('tessa'), 'active', 'a step forward brings no deadline closer');
  step(-20 * 60_000);
  monotonic.increment(1);
  assert.is(fleet.statusOf('tessa'), 'inactive', 'a step back pushes no deadline away');
  const inactive = events.at(-1);
  assert.ok(inactive?.type === 'WorkerInactive');
  assert.is(inactive.silentForMs, TIMEOUT_MS);
  assert.is(inactive.at, TIMEOUT_MS + 1_000_000 - 10 * 60_000);
  assert.is(
    inactive.lastHeartbeatAt,
    1_000_000 - 10 * 60_000,
    'the last heartbeat as the wall clock reads now',
  );
  fleet.stop();
});

test('restored workers: wall-clock times from the log are taken back onto the fleet clock', () => {
  const { clock, monotonic } = steppableClock();
  const { fleet, events } = fleetOn(clock);
  monotonic.increment(5_000);
  fleet.restore([knownWorker('kim', { status: 'active', seq: 3, lastHeartbeatAt: 1_002_000 })]);
  monotonic.increment(TIMEOUT_MS);
  const inactive = events.at(-1);
  assert.ok(inactive?.type === 'WorkerInactive');
  assert.is(inactive.lastHeartbeatAt, 1_002_000, 'the stored time round-trips');
  assert.is(inactive.at, 1_005_000 + TIMEOUT_MS, 'a full timeout from the restore');
  assert.is(inactive.silentForMs, TIMEOUT_MS + 3_000);
  fleet.stop();
});

test('each status change carries the length of the stretch it ends, on the fleet clock', () => {
  const { clock, monotonic, step } = steppableClock();
  const { fleet, events } = fleetOn(clock);
  fleet.receiveHeartbeat(heartbeat('tessa'), clock.now());
  monotonic.increment(20_000);
  step(-10 * 60_000);
  monotonic.increment(TIMEOUT_MS - 20_000);
  const inactive = events.at(-1);
  assert.ok(inactive?.type === 'WorkerInactive');
  assert.ok(inactive.at < (events[0]?.at ?? 0), 'its `at` went back with the wall clock');
  assert.is(inactive.previousStretchMs, TIMEOUT_MS, 'active for the timeout, whatever the wall clock says');
  step(25 * 60_000);
  monotonic.increment(7_000);
  fleet.receiveHeartbeat(heartbeat('tessa'), clock.now());
  const back = events.at(-1);
  assert.ok(back?.type === 'WorkerActivated');
  assert.is(back.previousStretchMs, 7_000);
  assert.ok(!('previousStretchMs' in (events[0] ?? {})), 'a registration ends no stretch');
  fleet.stop();
});

test('stretches across a restore and a suspension: from statusSince, or kept on the fleet clock', () => {
  const { clock, monotonic, step } = steppableClock();
  const { fleet, events } = fleetOn(clock);
  monotonic.increment(50_000);
  // The read model says kim went active 40 s before this restore, as the wall clock reads now.
  fleet.restore([
    knownWorker('kim', { status: 'active', seq: 3, lastHeartbeatAt: 1_045_000, statusSince: 1_010_000 }),
  ]);
  fleet.suspend();
  step(-10 * 60_000);
  monotonic.increment(5_000);
  fleet.resume();
  monotonic.increment(TIMEOUT_MS);
  const inactive = events.at(-1);
  assert.ok(inactive?.type === 'WorkerInactive');
  // 40 s before the restore, 5 s suspended, a full timeout after: the step while suspended shows nowhere.
  assert.is(inactive.previousStretchMs, 40_000 + 5_000 + TIMEOUT_MS);
  fleet.stop();
});

test('the monotonic clock reads whole milliseconds near the wall clock and never goes back', () => {
  const first = MONOTONIC_CLOCK.now();
  assert.ok(Number.isInteger(first));
  assert.ok(Math.abs(first - Date.now()) < 60_000, 'close to the wall clock of an unstepped host');
  let previous = first;
  for (let i = 0; i < 10_000; i++) {
    const now = MONOTONIC_CLOCK.now();
    assert.ok(now >= previous);
    previous = now;
  }
  const at = MONOTONIC_CLOCK.now();
  assert.ok(Math.abs(toWallTime(MONOTONIC_CLOCK, at) - Date.now()) <= 2);
  assert.ok(Math.abs(fromWallTime(MONOTONIC_CLOCK, toWallTime(MONOTONIC_CLOCK, at)) - at) <= 2);
  const simulated = new SimulatedClock();
  simulated.set(42);
  assert.is(wallNow(simulated), 42, 'a clock without a wall clock of its own is one');
});

test.run();
