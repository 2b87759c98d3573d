import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { AVAILABILITY_WINDOW_MS, MAX_RECENT_DOWNTIMES, workerStats } from '../../projections/uptime.js';
import type { WorkerDocument } from '../../projections/worker-document.js';
import { evolveWorker } from '../../projections/worker-document.js';
import { type HistoryStep, workerHistory } from '../support/worker-history.js';
import { EVERY_STATE_FIGURES_AT_60, foldWorker, workerDocument } from '../support/workers.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

const fold = (steps: HistoryStep[]) => foldWorker('tessa', steps);

test('suspect, recovered, inactive, back: every figure as computed by hand', () => {
  const document = fold([
    ['registered', 0],
    ['suspected', 10 * MINUTE],
    ['recovered', 11 * MINUTE],
    ['inactive', 30 * MINUTE],
    ['activated', 40 * MINUTE],
  ]);
  assert.equal(workerStats(document, 60 * MINUTE), EVERY_STATE_FIGURES_AT_60);
  assert.is(document.uptime?.recentDowntimes.length, 1);
});

test('the current stretch is counted up to now, and a worker never recovered has no MTTR', () => {
  const document = fold([
    ['registered', 0],
    ['inactive', 20 * MINUTE],
  ]);
  const stats = workerStats(document, 50 * MINUTE);
  assert.is(stats.activeMs, 20 * MINUTE);
  assert.is(stats.inactiveMs, 30 * MINUTE);
  assert.is(stats.outages, 1);
  assert.is(stats.meanTimeToRecoveryMs, null);
  assert.is(stats.availabilityLast24h, 20 / 50);
  assert.is(workerStats(document, 80 * MINUTE).inactiveMs, 60 * MINUTE, 'read later, the outage is longer');
});

test('MTTR is the mean over the recovered outages; an outage under way is not in it', () => {
  const document = fold([
    ['registered', 0],
    ['inactive', 10 * MINUTE],
    ['activated', 12 * MINUTE],
    ['inactive', 20 * MINUTE],
    ['activated', 26 * MINUTE],
    ['inactive', 30 * MINUTE],
  ]);
  const stats = workerStats(document, 90 * MINUTE);
  assert.is(stats.outages, 3);
  assert.is(stats.recoveries, 2);
  assert.is(stats.meanTimeToRecoveryMs, 4 * MINUTE);
  assert.is(stats.inactiveMs, 2 * MINUTE + 6 * MINUTE + 60 * MINUTE);
});

test('the 24 h window cuts an ended outage in the middle', () => {
  const document = fold([
    ['registered', 0],
    ['inactive', 30 * MINUTE],
    ['activated', 2 * HOUR],
  ]);
  const now = 25 * HOUR; // the window starts at 1 h: half of the 1.5 h outage before it
  const stats = workerStats(document, now);
  assert.is(stats.availabilityLast24h, (AVAILABILITY_WINDOW_MS - HOUR) / AVAILABILITY_WINDOW_MS);
  assert.is(stats.availabilitySinceRegistration, (25 * HOUR - 90 * MINUTE) / (25 * HOUR));
  assert.is(
    workerStats(document, 27 * HOUR).availabilityLast24h,
    1,
    'once out of the window, it is forgotten',
  );
});

test('the 24 h window cuts the outage under way', () => {
  const document = fold([
    ['registered', 0],
    ['inactive', 12 * HOUR],
  ]);
  assert.is(workerStats(document, 24 * HOUR).availabilityLast24h, 0.5);
  assert.is(workerStats(document, 36 * HOUR).availabilityLast24h, 0);
  assert.is(workerStats(document, 36 * HOUR).availabilitySinceRegistration, 1 / 3);
});

test('a removed worker’s figures stop at its removal', () => {
  const document = fold([
    ['registered', 0],
    ['inactive', 10 * MINUTE],
    ['removed', 20 * MINUTE],
  ]);
  const stats = workerStats(document, 60 * MINUTE);
  assert.is(stats.activeMs, 10 * MINUTE);
  assert.is(stats.inactiveMs, 10 * MINUTE);
  assert.is(stats.recoveries, 0, 'a removal is no recovery');
  assert.is(stats.availabilitySinceRegistration, 0.5);
  assert.is(stats.availabilityLast24h, 0.5, 'the window ends at the removal');
  assert.is(workerStats(document, 30 * HOUR).availabilityLast24h, null, 'removed for longer than the window');
});

test('registering again after a removal starts a fresh record', () => {
  const document = fold([
    ['registered', 0],
    ['inactive', 10 * MINUTE],
    ['removed', 20 * MINUTE],
    ['registered', 5 * HOUR],
  ]);
  assert.is(document.registeredAt, 5 * HOUR);
  assert.equal(workerStats(document, 6 * HOUR), {
    activeMs: HOUR,
    suspectMs: 0,
    inactiveMs: 0,
    outages: 0,
    recoveries: 0,
    meanTimeToRecoveryMs: null,
    availabilityLast24h: 1,
    availabilitySinceRegistration: 1,
  });
});

test('flags and a registration of a worker already known keep the record going', () => {
  const document = fold([
    ['registered', 0],
    ['inactive', 10 * MINUTE],
    ['cordoned', 15 * MINUTE],
    ['registered', 20 * MINUTE], // the monitor saw its first heartbeat again: a comeback
    ['flapping', 20 * MINUTE],
  ]);
  assert.is(document.registeredAt, 0);
  const stats = workerStats(document, 30 * MINUTE);
  assert.is(stats.inactiveMs, 10 * MINUTE);
  assert.is(stats.activeMs, 20 * MINUTE);
  assert.is(stats.recoveries, 1);
});

test('registered this very moment: no time observed, no availability', () => {
  const document = fold([['registered', 5_000]]);
  const stats = workerStats(document, 5_000);
  assert.is(stats.availabilityLast24h, null);
  assert.is(stats.availabilitySinceRegistration, null);
});

test('a document written before uptime was tracked reads from the start of its current status', () => {
  const legacy = workerDocument('old', { status: 'inactive', statusSince: 10 * MINUTE, registeredAt: 0 });
  assert.equal(workerStats(legacy, 40 * MINUTE), {
    activeMs: 0,
    suspectMs: 0,
    inactiveMs: 30 * MINUTE,
    outages: 1,
    recoveries: 0,
    meanTimeToRecoveryMs: null,
    availabilityLast24h: 0,
    availabilitySinceRegistration: 0,
  });
  const back = evolveWorker(legacy, {
    type: 'WorkerActivated',
    workerId: 'old',
    at: 40 * MINUTE,
    seq: 2,
    lastHeartbeatAt: 40 * MINUTE,
  });
  const stats = workerStats(back, 50 * MINUTE);
  assert.is(stats.meanTimeToRecoveryMs, 30 * MINUTE);
  assert.is(stats.availabilityLast24h, 10 / 40);
});

test('many outages in a day: the list stays bounded, the total downtime in it does not change', () => {
  const steps: HistoryStep[] = [['registered', 0]];
  const outages = MAX_RECENT_DOWNTIMES + 50;
  for (let index = 0; index < outages; index++) {
    steps.push(['inactive', (index * 6 + 1) * MINUTE], ['activated', (index * 6 + 3) * MINUTE]);
  }
  const document = fold(steps);
  const downtimes = document.uptime?.recentDowntimes ?? [];
  assert.is(downtimes.length, MAX_RECENT_DOWNTIMES);
  const total = downtimes.reduce((sum, downtime) => sum + downtime.to - downtime.from, 0);
  assert.is(total, outages * 2 * MINUTE);
  const now = outages * 6 * MINUTE;
  const stats = workerStats(document, now);
  assert.is(stats.availabilityLast24h, (now - outages * 2 * MINUTE) / now);
  assert.is(stats.meanTimeToRecoveryMs, 2 * MINUTE);
  assert.is(stats.outages, outages);
});

test('outages that ended a day before a later change are dropped from the record', () => {
  const document = fold([
    ['registered', 0],
    ['inactive', MINUTE],
    ['activated', 2 * MINUTE],
    ['suspected', 30 * HOUR],
  ]);
  assert.equal(document.uptime?.recentDowntimes, []);
  assert.is(workerStats(document, 30 * HOUR).inactiveMs, MINUTE, 'the totals keep them');
});

test('a steady worker’s record does not change with flags or capacity', () => {
  const registered = fold([['registered', 0]]);
  const cordoned = evolveWorker(registered, { type: 'WorkerCordoned', workerId: 'tessa', at: HOUR, seq: 2 });
  assert.is(cordoned.uptime, registered.uptime);
});

/**
 * The history of the first test as a host whose wall clock steps back 5 minutes while the worker
 * is suspect and forward again while it is inactive: `at` is the stepped wall clock, the third
 * field the stretch's length as the monitor measured it (absent: an event written before that).
 */
const STEPPED: Array<[...HistoryStep, number | undefined]> = [
  ['registered', 0, undefined],
  ['suspected', 10 * MINUTE, 10 * MINUTE],
  ['recovered', 6 * MINUTE, 1 * MINUTE],
  ['inactive', 25 * MINUTE, 19 * MINUTE],
  ['activated', 40 * MINUTE, 10 * MINUTE],
];

function foldEvents(withMeasuredLengths: boolean): WorkerDocument {
  const events = workerHistory(
    'tessa',
    STEPPED.map(([kind, at]) => [kind, at]),
  ).map((event, index) => {
    const measured = STEPPED[index]?.[2];
    return withMeasuredLengths && measured !== undefined ? { ...event, previousStretchMs: measured } : event;
  });
  let document: WorkerDocument | undefined;
  for (const event of events) document = evolveWorker(document, event);
  if (!document) throw new Error('no events');
  return document;
}

test('wall-clock steps between events: the measured stretch lengths give the true figures', () => {
  const document = foldEvents(true);
  // The very figures of the unstepped history (the first test): no step shows.
  assert.equal(workerStats(document, 60 * MINUTE), EVERY_STATE_FIGURES_AT_60);
  // The outage is placed to end when it ended, as long as it lasted.
  assert.equal(document.uptime?.recentDowntimes, [{ from: 30 * MINUTE, to: 40 * MINUTE }]);
});

test('events written before stretches were measured: wall-clock differences, never negative', () => {
  const document = foldEvents(false);
  const stats = workerStats(document, 60 * MINUTE);
  // Suspect from 10 to the stepped 6 counts nothing; the outage takes in the forward step.
  assert.is(stats.suspectMs, 0);
  assert.is(stats.activeMs, (10 + 19 + 20) * MINUTE);
  assert.is(stats.inactiveMs, 15 * MINUTE);
  assert.is(stats.meanTimeToRecoveryMs, 15 * MINUTE);
  for (const [name, value] of Object.entries(stats)) {
    assert.ok(value === null || value >= 0, `${name} is ${value}`);
  }
  for (const downtime of document.uptime?.recentDowntimes ?? []) assert.ok(downtime.to >= downtime.from);
});

test.run();
