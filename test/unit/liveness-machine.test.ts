import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SimulatedClock } from 'xstate';
import { Fleet } from '../../actors/fleet.js';
import type { WorkerEvent, WorkerStreamEvent } from '../../streams/contracts/worker-events.js';
import { heartbeat } from '../support/heartbeats.js';
import { hardTimeoutOnly, startFleet as startTestFleet } from '../support/liveness.js';

const TIMEOUT_MS = 30_000;

// These tests isolate the hard timeout: nobody is suspected (see suspicion.test.ts for that).
function startFleet(heartbeatTimeoutMs = TIMEOUT_MS) {
  return startTestFleet(hardTimeoutOnly(heartbeatTimeoutMs), 3);
}

test('a new worker is registered and active', () => {
  const { fleet, events, beat } = startFleet();
  beat('tessa');
  assert.is(fleet.statusOf('tessa'), 'active');
  assert.equal(
    events.map((event) => [event.type, event.seq]),
    [['WorkerRegistered', 1]],
  );
  fleet.stop();
});

test('still active at timeout − 1 ms, inactive at the timeout', () => {
  const { fleet, events, beat, clock } = startFleet();
  beat('tessa');
  clock.increment(TIMEOUT_MS - 1);
  assert.is(fleet.statusOf('tessa'), 'active');
  clock.increment(1);
  assert.is(fleet.statusOf('tessa'), 'inactive');
  const inactive = events.at(-1);
  assert.equal(inactive, {
    type: 'WorkerInactive',
    workerId: 'tessa',
    at: TIMEOUT_MS,
    seq: 2,
    lastHeartbeatAt: 0,
    silentForMs: TIMEOUT_MS,
    previousStretchMs: TIMEOUT_MS,
  });
  fleet.stop();
});

test('a heartbeat at 20 s moves the deadline to 50 s', () => {
  const { fleet, beat, clock } = startFleet();
  beat('tessa');
  clock.increment(20_000);
  beat('tessa');
  clock.increment(TIMEOUT_MS - 1); // 49 999 ms
  assert.is(fleet.statusOf('tessa'), 'active');
  clock.increment(1); // 50 000 ms
  assert.is(fleet.statusOf('tessa'), 'inactive');
  fleet.stop();
});

test('an inactive worker becomes active again on its next heartbeat', () => {
  const { fleet, events, beat, clock } = startFleet();
  beat('tessa');
  clock.increment(TIMEOUT_MS);
  clock.increment(5_000);
  beat('tessa');
  assert.is(fleet.statusOf('tessa'), 'active');
  assert.equal(
    events.map((event) => [event.type, event.seq]),
    [
      ['WorkerRegistered', 1],
      ['WorkerInactive', 2],
      ['WorkerActivated', 3],
    ],
  );
  assert.equal(events[2], {
    type: 'WorkerActivated',
    workerId: 'tessa',
    at: TIMEOUT_MS + 5_000,
    seq: 3,
    lastHeartbeatAt: TIMEOUT_MS + 5_000,
    previousStretchMs: 5_000,
  });
  // And the countdown runs again from that heartbeat.
  clock.increment(TIMEOUT_MS);
  assert.is(fleet.statusOf('tessa'), 'inactive');
  fleet.stop();
});

test('a configured timeout is used', () => {
  const { fleet, beat, clock } = startFleet(400);
  beat('tessa');
  clock.increment(399);
  assert.is(fleet.statusOf('tessa'), 'active');
  clock.increment(1);
  assert.is(fleet.statusOf('tessa'), 'inactive');
  fleet.stop();
});

test('a changed capacity or address is an event; an unchanged one is not', () => {
  const { fleet, events, beat, clock } = startFleet();
  beat('tessa');
  clock.increment(1_000);
  beat('tessa');
  assert.is(events.length, 1);
  beat('tessa', { capacity: { cpu: 16, memoryGb: 16, storageGb: 100, gpu: 1 } });
  beat('tessa', { address: '10.0.0.8:50052', capacity: { cpu: 16, memoryGb: 16, storageGb: 100, gpu: 1 } });
  assert.equal(
    events.map((event) => event.type),
    ['WorkerRegistered', 'WorkerCapacityChanged', 'WorkerCapacityChanged'],
  );
  assert.equal(events[2], {
    type: 'WorkerCapacityChanged',
    workerId: 'tessa',
    at: 1_000,
    seq: 3,
    address: '10.0.0.8:50052',
    capacity: { cpu: 16, memoryGb: 16, storageGb: 100, gpu: 1 },
  });
  fleet.stop();
});

test('a worker returning with a new capacity is activated, then its capacity changes', () => {
  const { fleet, events, beat, clock } = startFleet();
  beat('tessa');
  clock.increment(TIMEOUT_MS);
  beat('tessa', { capacity: { cpu: 4, memoryGb: 8, storageGb: 100, gpu: 0 } });
  assert.equal(
    events.map((event) => [event.type, event.seq]),
    [
      ['WorkerRegistered', 1],
      ['WorkerInactive', 2],
      ['WorkerActivated', 3],
      ['WorkerCapacityChanged', 4],
    ],
  );
  fleet.stop();
});

test('workers time out independently', () => {
  const { fleet, beat, clock } = startFleet();
  beat('a');
  clock.increment(10_000);
  beat('b');
  clock.increment(20_000);
  assert.is(fleet.statusOf('a'), 'inactive');
  assert.is(fleet.statusOf('b'), 'active');
  assert.equal(fleet.countByStatus(), { active: 1, suspect: 0, inactive: 1, left: 0, removed: 0 });
  fleet.stop();
});

test('restored workers: active ones get a full timeout from the restart, numbering continues', () => {
  const { fleet, events, clock } = startFleet();
  clock.set(100_000);
  const capacity = { cpu: 8, memoryGb: 16, storageGb: 100, gpu: 1 };
  fleet.restore(
    [
      {
        workerId: 'tessa',
        status: 'active',
        seq: 7,
        lastHeartbeatAt: 10_000,
        address: 'a',
        capacity,
        flapping: false,
        cordoned: false,
      },
      {
        workerId: 'gone',
        status: 'inactive',
        seq: 4,
        lastHeartbeatAt: 5_000,
        address: 'b',
        capacity,
        flapping: false,
        cordoned: false,
      },
    ],
    clock.now(),
  );
  assert.is(events.length, 0, 'restoring emits nothing');
  assert.is(fleet.statusOf('tessa'), 'active');
  assert.is(fleet.statusOf('gone'), 'inactive');
  clock.increment(TIMEOUT_MS - 1);
  assert.is(fleet.statusOf('tessa'), 'active');
  clock.increment(1);
  assert.is(fleet.statusOf('tessa'), 'inactive');
  assert.equal(events, [
    {
      type: 'WorkerInactive',
      workerId: 'tessa',
      at: 100_000 + TIMEOUT_MS,
      seq: 8,
      lastHeartbeatAt: 10_000,
      silentForMs: 100_000 + TIMEOUT_MS - 10_000,
    },
  ]);
  fleet.receiveHeartbeat(heartbeat('gone', { address: 'b', capacity }), clock.now());
  assert.equal(events.at(-1)?.type, 'WorkerActivated');
  assert.equal(events.at(-1)?.seq, 5);
  fleet.stop();
});

/** The WorkerInactive of tessa, silent since `lastHeartbeatAt`, whose countdown ran from `armedAt`. */
/** `activeSince`: when its active stretch began on the fleet's clock; absent when the fleet could not know. */
function tessaInactive(
  seq: number,
  lastHeartbeatAt: number,
  armedAt = lastHeartbeatAt,
  activeSince?: number,
): WorkerEvent {
  return {
    type: 'WorkerInactive',
    workerId: 'tessa',
    at: armedAt + TIMEOUT_MS,
    seq,
    lastHeartbeatAt,
    silentForMs: armedAt + TIMEOUT_MS - lastHeartbeatAt,
    ...(activeSince === undefined ? {} : { previousStretchMs: armedAt + TIMEOUT_MS - activeSince }),
  };
}

test('a restored active worker that beats again gets its deadline moved from that heartbeat', () => {
  const { fleet, events, beat, clock } = startFleet();
  clock.set(100_000);
  const capacity = { cpu: 8, memoryGb: 16, storageGb: 100, gpu: 1 };
  fleet.restore(
    [
      {
        workerId: 'tessa',
        status: 'active',
        seq: 3,
        lastHeartbeatAt: 90_000,
        address: 'a',
        capacity,
        flapping: false,
        cordoned: false,
      },
    ],
    clock.now(),
  );
  clock.increment(10_000);
  beat('tessa', { address: 'a', capacity });
  clock.increment(TIMEOUT_MS - 1); // 139 999 ms: past the restored deadline, not the moved one
  assert.is(fleet.statusOf('tessa'), 'active');
  clock.increment(1);
  assert.is(fleet.statusOf('tessa'), 'inactive');
  assert.equal(events, [tessaInactive(4, 110_000)]);
  fleet.stop();
});

test('steady heartbeats never time out, and do not set a timer each', () => {
  const clock = new SimulatedClock();
  let timersSet = 0;
  const countingClock = {
    now: () => clock.now(),
    setTimeout: (callback: () => void, delayMs: number) => {
      timersSet++;
      return clock.setTimeout(callback, delayMs);
    },
    clearTimeout: (handle: unknown) => clock.clearTimeout(handle as number),
  };
  const events: WorkerStreamEvent[] = [];
  const fleet = new Fleet({
    settings: hardTimeoutOnly(TIMEOUT_MS),
    maxWorkers: 1,
    clock: countingClock,
    onEvent: (e) => events.push(e),
  });
  const heartbeats = 120; // ten minutes, one every 5 s
  for (let index = 0; index < heartbeats; index++) {
    fleet.receiveHeartbeat(heartbeat('tessa'), clock.now());
    clock.increment(5_000);
  }
  assert.is(fleet.statusOf('tessa'), 'active');
  assert.equal(
    events.map((event) => event.type),
    ['WorkerRegistered'],
  );
  // One re-arm per timeout period at most, not one timer per heartbeat.
  assert.ok(timersSet <= heartbeats / 4, `${timersSet} timers for ${heartbeats} heartbeats`);
  const lastBeatAt = (heartbeats - 1) * 5_000;
  clock.set(lastBeatAt + TIMEOUT_MS - 1);
  assert.is(fleet.statusOf('tessa'), 'active');
  clock.set(lastBeatAt + TIMEOUT_MS);
  assert.is(fleet.statusOf('tessa'), 'inactive');
  assert.equal(events.at(-1), tessaInactive(2, lastBeatAt, lastBeatAt, 0));
  fleet.stop();
});

test('news after quiet heartbeats is taken at once, and the countdown runs from the newest beat', () => {
  const { fleet, events, beat, clock } = startFleet();
  beat('tessa');
  clock.increment(5_000);
  beat('tessa');
  clock.increment(5_000);
  beat('tessa', { capacity: { cpu: 4, memoryGb: 16, storageGb: 100, gpu: 1 } });
  assert.equal(events.at(-1), {
    type: 'WorkerCapacityChanged',
    workerId: 'tessa',
    at: 10_000,
    seq: 2,
    address: '10.0.0.7:50052',
    capacity: { cpu: 4, memoryGb: 16, storageGb: 100, gpu: 1 },
  });
  clock.increment(5_000);
  beat('tessa', { capacity: { cpu: 4, memoryGb: 16, storageGb: 100, gpu: 1 } });
  clock.increment(TIMEOUT_MS - 1); // 44 999 ms
  assert.is(fleet.statusOf('tessa'), 'active');
  clock.increment(1);
  assert.equal(events.at(-1), tessaInactive(3, 15_000, 15_000, 0));
  fleet.stop();
});

test('suspending keeps the newest coalesced heartbeat of each worker', () => {
  const { fleet, events, beat, clock } = startFleet();
  beat('tessa');
  clock.increment(5_000);
  beat('tessa'); // quiet: held by the fleet, not yet given to the actor
  fleet.suspend();
  clock.increment(5_000);
  fleet.resume(clock.now());
  clock.increment(TIMEOUT_MS);
  // Resumed at 10 s: a full timeout from then; the last heartbeat it knew is still 5 s.
  assert.equal(events.at(-1), tessaInactive(2, 5_000, 10_000, 0));
  fleet.stop();
});

test('a stopped fleet emits nothing more, whatever the clock does', () => {
  const { fleet, events, beat, clock } = startFleet();
  beat('tessa');
  fleet.stop();
  clock.increment(TIMEOUT_MS * 2);
  beat('kim');
  assert.equal(
    events.map((event) => event.type),
    ['WorkerRegistered'],
  );
  assert.is(fleet.size, 0);
});

test('a suspended fleet fires no timer; on resume every active worker gets a full timeout', () => {
  const { fleet, events, beat, clock } = startFleet();
  beat('tessa');
  beat('kim');
  clock.increment(TIMEOUT_MS);
  assert.is(fleet.statusOf('kim'), 'inactive');
  clock.increment(1_000);
  beat('tessa'); // comes back: active again at 31 s
  const eventsBefore = events.length;

  fleet.suspend();
  assert.ok(fleet.isSuspended);
  clock.increment(TIMEOUT_MS * 3); // the monitor is blind for 90 s
  assert.is(events.length, eventsBefore, 'no transition while suspended');
  assert.is(fleet.receiveHeartbeat(heartbeat('tessa'), clock.now()), 'suspended');
  assert.is(fleet.statusOf('tessa'), 'active');
  assert.is(fleet.statusOf('kim'), 'inactive');

  fleet.resume(clock.now());
  clock.increment(TIMEOUT_MS - 1);
  assert.is(fleet.statusOf('tessa'), 'active');
  clock.increment(1);
  assert.is(fleet.statusOf('tessa'), 'inactive');
  assert.equal(
    events
      .slice(eventsBefore)
      .map((event) => ['workerId' in event ? event.workerId : 'fleet', event.type, event.seq]),
    [['tessa', 'WorkerInactive', 4]],
  );
  fleet.stop();
});

test('the fleet tracks at most maxWorkers; known workers are still served', () => {
  const { fleet, beat, clock } = startFleet();
  for (const id of ['a', 'b', 'c']) beat(id);
  assert.is(fleet.receiveHeartbeat(heartbeat('d'), clock.now()), 'fleet-full');
  assert.is(fleet.size, 3);
  assert.is(fleet.statusOf('d'), undefined);
  assert.is(fleet.receiveHeartbeat(heartbeat('a'), clock.now()), 'accepted');
  fleet.stop();
});

test.run();
