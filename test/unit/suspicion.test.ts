import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { livenessSettings, startFleet } from '../support/liveness.js';

// Defaults: heartbeat timeout 30 s, fixed grace 10 s (2 × the 5 s interval) until 10 samples,
// φ threshold 8 with σ ≥ 500 ms; flapping after more than 3 comebacks in 10 min, 5 min hold-down.
const TIMEOUT_MS = 30_000;
const INTERVAL_MS = 5_000;

/** Settings where φ never takes over from the fixed grace period. */
const FIXED_GRACE = livenessSettings({ suspicion: { minSamples: Number.MAX_SAFE_INTEGER } });
/** Settings where nobody is suspect: for flap damping, which is about comebacks from inactive. */
const NO_SUSPICION = livenessSettings({
  suspicion: { suspectAfterMs: TIMEOUT_MS, minSamples: Number.MAX_SAFE_INTEGER },
});

test('late heartbeats make a worker suspect after the grace period; inactive still at the hard timeout', () => {
  const { fleet, events, beat, clock, summary } = startFleet(FIXED_GRACE);
  beat('tessa');
  clock.set(9_999);
  assert.is(fleet.statusOf('tessa'), 'active');
  clock.set(10_000);
  assert.is(fleet.statusOf('tessa'), 'suspect');
  assert.equal(events.at(-1), {
    type: 'WorkerSuspected',
    workerId: 'tessa',
    at: 10_000,
    seq: 2,
    lastHeartbeatAt: 0,
    silentForMs: 10_000,
    suspectAfterMs: 10_000,
    phi: null,
    previousStretchMs: 10_000,
  });
  clock.set(TIMEOUT_MS - 1);
  assert.is(fleet.statusOf('tessa'), 'suspect');
  clock.set(TIMEOUT_MS);
  assert.is(fleet.statusOf('tessa'), 'inactive');
  assert.equal(summary(), [
    ['tessa', 'WorkerRegistered', 1],
    ['tessa', 'WorkerSuspected', 2],
    ['tessa', 'WorkerInactive', 3],
  ]);
  assert.equal(events.at(-1), {
    type: 'WorkerInactive',
    workerId: 'tessa',
    at: TIMEOUT_MS,
    seq: 3,
    lastHeartbeatAt: 0,
    silentForMs: TIMEOUT_MS,
    previousStretchMs: TIMEOUT_MS - 10_000,
  });
  fleet.stop();
});

test('a heartbeat returns a suspect worker to active, and the countdowns run from it', () => {
  const { fleet, events, beat, clock, summary } = startFleet(FIXED_GRACE);
  beat('tessa');
  clock.set(12_000);
  beat('tessa');
  assert.is(fleet.statusOf('tessa'), 'active');
  assert.equal(events.at(-1), {
    type: 'WorkerRecovered',
    workerId: 'tessa',
    at: 12_000,
    seq: 3,
    lastHeartbeatAt: 12_000,
    previousStretchMs: 2_000,
  });
  clock.set(21_999);
  assert.is(fleet.statusOf('tessa'), 'active');
  clock.set(22_000);
  assert.is(fleet.statusOf('tessa'), 'suspect');
  clock.set(12_000 + TIMEOUT_MS);
  assert.is(fleet.statusOf('tessa'), 'inactive');
  assert.equal(summary(), [
    ['tessa', 'WorkerRegistered', 1],
    ['tessa', 'WorkerSuspected', 2],
    ['tessa', 'WorkerRecovered', 3],
    ['tessa', 'WorkerSuspected', 4],
    ['tessa', 'WorkerInactive', 5],
  ]);
  fleet.stop();
});

test('steady heartbeats, coalesced by the fleet, never make a worker suspect', () => {
  const { fleet, beat, clock, summary } = startFleet(FIXED_GRACE);
  for (let at = 0; at <= 10 * 60_000; at += INTERVAL_MS) {
    clock.set(at);
    beat('tessa');
  }
  assert.is(fleet.statusOf('tessa'), 'active');
  assert.equal(summary(), [['tessa', 'WorkerRegistered', 1]]);
  fleet.stop();
});

test('φ: a clockwork worker becomes suspect 2.8 s after a missed beat, a jittery one much later', () => {
  const { fleet, events, beat, clock } = startFleet(livenessSettings());
  // 11 beats of each, both ending at 50 s: 10 inter-arrival samples, enough for φ.
  const jitteryBeats = [0, 2_000, 10_000, 12_000, 20_000, 22_000, 30_000, 32_000, 40_000, 42_000, 50_000];
  const beats = [
    ...jitteryBeats.map((at) => ({ at, workerId: 'jittery' })),
    ...jitteryBeats.map((_, index) => ({ at: index * INTERVAL_MS, workerId: 'clockwork' })),
  ].sort((x, y) => x.at - y.at);
  for (const { at, workerId } of beats) {
    clock.set(at);
    beat(workerId);
  }
  const clockworkLastBeat = 50_000;
  const jitteryLastBeat = 50_000;
  // Clockwork: mean 5 000, σ 0 → floor 500: suspect at 5 000 + 5.612 × 500 = 7 806 ms of silence.
  clock.set(clockworkLastBeat + 7_805);
  assert.is(fleet.statusOf('clockwork'), 'active');
  clock.set(clockworkLastBeat + 7_806);
  assert.is(fleet.statusOf('clockwork'), 'suspect');
  const suspected = events.find(
    (event) => event.type === 'WorkerSuspected' && event.workerId === 'clockwork',
  );
  assert.equal(suspected && 'phi' in suspected ? [suspected.phi, suspected.suspectAfterMs] : [], [8, 7_806]);
  // Jittery: 2 s and 8 s alternately, mean 5 000, σ 3 000 → 21 836 ms of silence.
  clock.set(jitteryLastBeat + 21_835);
  assert.is(fleet.statusOf('jittery'), 'active');
  clock.set(jitteryLastBeat + 21_836);
  assert.is(fleet.statusOf('jittery'), 'suspect');
  // Both still turn inactive at the hard timeout from their last beat.
  clock.set(jitteryLastBeat + TIMEOUT_MS);
  assert.is(fleet.statusOf('clockwork'), 'inactive');
  assert.is(fleet.statusOf('jittery'), 'inactive');
  fleet.stop();
});

test('an outage is not an inter-arrival sample: a worker back from inactive is judged as before', () => {
  const { fleet, events, beat, clock } = startFleet(livenessSettings());
  let at = 0;
  for (let beatIndex = 0; beatIndex <= 10; beatIndex++, at += INTERVAL_MS) {
    clock.set(at);
    beat('tessa');
  }
  clock.set(at + 60_000); // silent for a minute: suspect, then inactive
  assert.is(fleet.statusOf('tessa'), 'inactive');
  const backAt = clock.now();
  beat('tessa');
  clock.set(backAt + 7_806);
  // Had the minute counted, σ would be huge and the worker still active here.
  assert.is(fleet.statusOf('tessa'), 'suspect');
  assert.is(events.at(-1)?.type, 'WorkerSuspected');
  fleet.stop();
});

// --- flap damping ---

/** Beats once at `at`, then stays silent: inactive at `at` + 30 s. */
function beatOnceAt(context: ReturnType<typeof startFleet>, at: number): void {
  context.clock.set(at);
  context.beat('tessa');
}

test('more than 3 comebacks within 10 minutes: flapping, until it stays up for the 5-minute hold-down', () => {
  const context = startFleet(NO_SUSPICION);
  const { fleet, events, clock, summary } = context;
  // Registered at 0, then back at 40, 80, 120 and 160 s, each time after going inactive.
  for (const at of [0, 40_000, 80_000, 120_000]) beatOnceAt(context, at);
  assert.ok(!summary().some(([, type]) => type === 'WorkerFlapping'), 'three comebacks are allowed');
  beatOnceAt(context, 160_000);
  assert.equal(events.at(-1), {
    type: 'WorkerFlapping',
    workerId: 'tessa',
    at: 160_000,
    seq: 10,
    comebacks: 4,
    windowMs: 600_000,
    holdDownMs: 300_000,
  });
  // It stays up, beating every 5 s (coalesced): stable at 160 s + 5 min exactly.
  for (let at = 165_000; at <= 500_000; at += INTERVAL_MS) {
    clock.set(at);
    context.beat('tessa');
    if (at === 455_000) assert.is(events.at(-1)?.type, 'WorkerFlapping');
  }
  assert.equal(
    events.find((event) => event.type === 'WorkerStabilized'),
    { type: 'WorkerStabilized', workerId: 'tessa', at: 460_000, seq: 11, stableForMs: 300_000 },
  );
  fleet.stop();
});

test('going down during the hold-down restarts it from the next comeback', () => {
  const context = startFleet(NO_SUSPICION);
  const { fleet, events, clock } = context;
  for (const at of [0, 40_000, 80_000, 120_000, 160_000]) beatOnceAt(context, at);
  beatOnceAt(context, 200_000); // down at 190 s, back at 200 s: still flapping
  clock.set(200_000 + 300_000 - 1);
  context.beat('tessa');
  clock.set(229_000 + 300_000 - 1);
  assert.ok(!events.some((event) => event.type === 'WorkerStabilized'));
  fleet.stop();
});

test('comebacks spread wider than the flap window are not flapping', () => {
  const context = startFleet(NO_SUSPICION);
  for (const at of [0, 200_000, 400_000, 600_000, 800_000]) beatOnceAt(context, at);
  assert.ok(!context.events.some((event) => event.type === 'WorkerFlapping'));
  context.fleet.stop();
});

// --- operator controls ---

test('cordon and uncordon are events of the worker, once each; unknown ids are refused', () => {
  const { fleet, events, beat, clock, summary } = startFleet(FIXED_GRACE);
  beat('tessa');
  clock.set(1_000);
  assert.equal(fleet.cordon('tessa'), { ok: true });
  assert.equal(fleet.cordon('tessa'), { ok: true }, 'cordoning twice is harmless');
  assert.equal(events.at(-1), { type: 'WorkerCordoned', workerId: 'tessa', at: 1_000, seq: 2 });
  assert.equal(fleet.uncordon('tessa'), { ok: true });
  assert.equal(summary(), [
    ['tessa', 'WorkerRegistered', 1],
    ['tessa', 'WorkerCordoned', 2],
    ['tessa', 'WorkerUncordoned', 3],
  ]);
  const unknown = fleet.cordon('nobody');
  assert.ok(
    !unknown.ok && /worker nobody is not known: list the workers with `cloudai workers`/.test(unknown.error),
  );
  // The timers were not disturbed: suspect at 10 s from the last heartbeat.
  clock.set(10_000);
  assert.is(fleet.statusOf('tessa'), 'suspect');
  fleet.stop();
});

test('only an inactive worker can be removed; it registers again, numbering on', () => {
  const { fleet, beat, clock, summary } = startFleet(FIXED_GRACE);
  beat('tessa');
  const refused = fleet.remove('tessa');
  assert.ok(
    !refused.ok && /tessa is active: only an inactive or left worker can be removed/.test(refused.error),
  );
  clock.set(TIMEOUT_MS);
  assert.equal(fleet.remove('tessa'), { ok: true });
  assert.is(fleet.statusOf('tessa'), 'removed');
  assert.is(fleet.size, 0);
  assert.equal(fleet.countByStatus(), { active: 0, suspect: 0, inactive: 0, left: 0, removed: 1 });
  const again = fleet.remove('tessa');
  assert.ok(!again.ok && /tessa was removed/.test(again.error));
  clock.set(TIMEOUT_MS + 5_000);
  beat('tessa');
  assert.is(fleet.statusOf('tessa'), 'active');
  assert.equal(summary(), [
    ['tessa', 'WorkerRegistered', 1],
    ['tessa', 'WorkerSuspected', 2],
    ['tessa', 'WorkerInactive', 3],
    ['tessa', 'WorkerRemoved', 4],
    ['tessa', 'WorkerRegistered', 5],
  ]);
  fleet.stop();
});

test('restored flags and removed workers survive a restart', () => {
  const { fleet, events, clock, beat } = startFleet(FIXED_GRACE);
  clock.set(100_000);
  const capacity = { cpu: 8, memoryGb: 16, storageGb: 100, gpu: 1 };
  const known = { lastHeartbeatAt: 90_000, address: '10.0.0.7:50052', capacity, flapping: false };
  fleet.restore(
    [
      { ...known, workerId: 'tessa', status: 'active', seq: 3, cordoned: true },
      { ...known, workerId: 'kim', status: 'suspect', seq: 5, cordoned: false },
      { ...known, workerId: 'gone', status: 'removed', seq: 9, cordoned: false },
    ],
    clock.now(),
  );
  assert.equal(fleet.countByStatus(), { active: 1, suspect: 1, inactive: 0, left: 0, removed: 1 });
  assert.equal(fleet.cordon('tessa'), { ok: true });
  assert.is(events.length, 0, 'already cordoned: no event');
  // A restored suspect gets a full timeout from the restart; a heartbeat recovers it.
  beat('kim', { address: known.address, capacity });
  assert.equal(
    events.map((event) => [event.type, event.seq]),
    [['WorkerRecovered', 6]],
  );
  beat('gone', { address: known.address, capacity });
  assert.equal(events.at(-1)?.type, 'WorkerRegistered');
  assert.equal(events.at(-1)?.seq, 10);
  fleet.stop();
});

// --- the mass-failure guard ---

/** Five workers beating at 0; `silent` stop there, the others beat every 5 s up to `until`. */
function fiveWorkers(silent: readonly string[], until: number) {
  const context = startFleet(FIXED_GRACE);
  const ids = ['a', 'b', 'c', 'd', 'e'];
  for (let at = 0; at <= until; at += INTERVAL_MS) {
    context.clock.set(at);
    for (const id of ids) if (at === 0 || !silent.includes(id)) context.beat(id);
  }
  return context;
}

test('3 of 5 workers silent at once: disruption mode, nobody declared inactive', () => {
  const { fleet, events, clock } = fiveWorkers(['c', 'd', 'e'], 60_000);
  assert.ok(fleet.inDisruption);
  assert.equal(
    events.filter((event) => event.type === 'DisruptionStarted'),
    [
      {
        type: 'DisruptionStarted',
        at: TIMEOUT_MS,
        seq: 1,
        unhealthyWorkers: 3,
        consideredWorkers: 5,
        thresholdPercent: 55,
      },
    ],
  );
  assert.ok(!events.some((event) => event.type === 'WorkerInactive'));
  assert.equal(fleet.countByStatus(), { active: 2, suspect: 3, inactive: 0, left: 0, removed: 0 });
  clock.set(10 * 60_000);
  assert.ok(!events.some((event) => event.type === 'WorkerInactive'), 'held for as long as it lasts');
  fleet.stop();
});

test('2 of 5 silent is below the share, and 2 of 3 is not more than 2 workers: they go inactive', () => {
  const five = fiveWorkers(['d', 'e'], 60_000);
  assert.ok(!five.fleet.inDisruption);
  assert.is(five.events.filter((event) => event.type === 'WorkerInactive').length, 2);
  five.fleet.stop();
  const three = startFleet(FIXED_GRACE);
  for (const id of ['a', 'b', 'c']) three.beat(id);
  for (let at = INTERVAL_MS; at <= 60_000; at += INTERVAL_MS) {
    three.clock.set(at);
    three.beat('a');
  }
  assert.ok(!three.fleet.inDisruption);
  assert.equal(three.fleet.countByStatus(), { active: 1, suspect: 0, inactive: 2, left: 0, removed: 0 });
  three.fleet.stop();
});

test('heartbeats coming back end the mode; the workers still silent get a full timeout from then', () => {
  const { fleet, events, clock, beat, summary } = fiveWorkers(['c', 'd', 'e'], 40_000);
  const before = events.length;
  clock.set(42_000);
  beat('c');
  assert.ok(!fleet.inDisruption);
  assert.equal(summary(before), [
    ['c', 'WorkerRecovered', 3],
    ['fleet', 'DisruptionEnded', 2],
  ]);
  assert.equal(events.at(-1), { type: 'DisruptionEnded', at: 42_000, seq: 2, endedBy: 'heartbeats' });
  for (let at = 45_000; at < 42_000 + TIMEOUT_MS; at += INTERVAL_MS) {
    clock.set(at);
    for (const id of ['a', 'b', 'c']) beat(id);
  }
  clock.set(42_000 + TIMEOUT_MS - 1);
  assert.is(fleet.statusOf('d'), 'suspect');
  clock.set(42_000 + TIMEOUT_MS);
  assert.is(fleet.statusOf('d'), 'inactive');
  assert.is(fleet.statusOf('e'), 'inactive');
  assert.ok(!fleet.inDisruption, 'two silent workers of five do not start it again');
  fleet.stop();
});

test('an operator ends the mode: the held workers are inactive at once', () => {
  const { fleet, events, clock, summary } = fiveWorkers(['c', 'd', 'e'], 40_000);
  const before = events.length;
  clock.set(45_000);
  assert.equal(fleet.endDisruption(), { ok: true });
  assert.equal(summary(before), [
    ['fleet', 'DisruptionEnded', 2],
    ['c', 'WorkerInactive', 3],
    ['d', 'WorkerInactive', 3],
    ['e', 'WorkerInactive', 3],
  ]);
  assert.equal(events.at(-1), {
    type: 'WorkerInactive',
    workerId: 'e',
    at: 45_000,
    seq: 3,
    lastHeartbeatAt: 0,
    silentForMs: 45_000,
    // Suspect since its grace ran out at 10 s.
    previousStretchMs: 35_000,
  });
  const again = fleet.endDisruption();
  assert.ok(!again.ok && /not in disruption mode/.test(again.error));
  fleet.stop();
});

test('a restart during the mode continues it: restored suspects are held, numbering goes on', () => {
  const { fleet, events, clock, beat } = startFleet(FIXED_GRACE);
  clock.set(100_000);
  fleet.restoreDisruption({ active: true, lastEventSeq: 3 });
  const capacity = { cpu: 8, memoryGb: 16, storageGb: 100, gpu: 1 };
  const known = {
    lastHeartbeatAt: 40_000,
    address: '10.0.0.7:50052',
    capacity,
    flapping: false,
    cordoned: false,
  };
  fleet.restore(
    [
      { ...known, workerId: 'a', status: 'active', seq: 1 },
      { ...known, workerId: 'c', status: 'suspect', seq: 2 },
      { ...known, workerId: 'd', status: 'suspect', seq: 2 },
      { ...known, workerId: 'e', status: 'suspect', seq: 2 },
    ],
    clock.now(),
  );
  for (let at = 100_000; at <= 100_000 + 2 * TIMEOUT_MS; at += INTERVAL_MS) {
    clock.set(at);
    beat('a', { address: known.address, capacity });
  }
  assert.ok(fleet.inDisruption);
  assert.ok(!events.some((event) => event.type === 'WorkerInactive'));
  assert.equal(fleet.endDisruption(), { ok: true });
  assert.equal(events.find((event) => event.type === 'DisruptionEnded')?.seq, 4);
  fleet.stop();
});

test.run();
