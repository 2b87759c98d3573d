import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  disruptionPartOf,
  evolveDisruption,
  evolveDisruptionOnTakeover,
  NO_DISRUPTION,
} from '../../projections/disruption-document.js';
import type { DisruptionEvent, PartitionTaken } from '../../streams/contracts/worker-events.js';

const started: DisruptionEvent = {
  type: 'DisruptionStarted',
  at: 10_000,
  seq: 1,
  unhealthyWorkers: 6,
  consideredWorkers: 10,
  thresholdPercent: 55,
};

test('DisruptionStarted on no disruption: active since then, with the share that started it', () => {
  assert.equal(evolveDisruption(NO_DISRUPTION, started), {
    active: true,
    since: 10_000,
    endedAt: null,
    endedBy: null,
    unhealthyWorkers: 6,
    consideredWorkers: 10,
    lastEventSeq: 1,
  });
});

test('DisruptionEnded keeps when it started and says when and why it ended', () => {
  const ended = evolveDisruption(evolveDisruption(NO_DISRUPTION, started), {
    type: 'DisruptionEnded',
    at: 70_000,
    seq: 2,
    endedBy: 'operator',
  });
  assert.equal(ended, {
    active: false,
    since: 10_000,
    endedAt: 70_000,
    endedBy: 'operator',
    unhealthyWorkers: 6,
    consideredWorkers: 10,
    lastEventSeq: 2,
  });
  const again = evolveDisruption(ended, {
    ...started,
    at: 90_000,
    seq: 3,
    unhealthyWorkers: 3,
    consideredWorkers: 4,
  });
  assert.equal(again, {
    active: true,
    since: 90_000,
    endedAt: null,
    endedBy: null,
    unhealthyWorkers: 3,
    consideredWorkers: 4,
    lastEventSeq: 3,
  });
});

test('a disruption event already reflected (seq not newer) changes nothing', () => {
  const active = evolveDisruption(NO_DISRUPTION, { ...started, seq: 4 });
  assert.is(
    evolveDisruption(active, { type: 'DisruptionEnded', at: 20_000, seq: 4, endedBy: 'heartbeats' }),
    active,
  );
  assert.is(evolveDisruption(active, { ...started, seq: 2 }), active);
});

test('two control planes: the fleet is in disruption mode while either is; each numbers its own events', () => {
  const byA = { ...started, controlPlane: 'a' };
  const byB = { ...started, at: 20_000, controlPlane: 'b' };
  let document = evolveDisruption(evolveDisruption(NO_DISRUPTION, byA), byB);
  assert.is(document.active, true);
  assert.is(document.since, 10_000, 'the mode started with the first');
  assert.equal(disruptionPartOf(document, 'b'), { active: true, lastEventSeq: 1 });
  document = evolveDisruption(document, {
    type: 'DisruptionEnded',
    at: 30_000,
    seq: 2,
    endedBy: 'heartbeats',
    controlPlane: 'a',
  });
  assert.is(document.active, true, 'b is still in disruption mode');
  assert.equal(disruptionPartOf(document, 'a'), { active: false, lastEventSeq: 2 });
  // A retried event of b (same seq) changes nothing; b's end ends the mode.
  assert.is(evolveDisruption(document, byB), document);
  document = evolveDisruption(document, {
    type: 'DisruptionEnded',
    at: 40_000,
    seq: 2,
    endedBy: 'operator',
    controlPlane: 'b',
  });
  assert.equal([document.active, document.endedAt, document.endedBy], [false, 40_000, 'operator']);
  assert.equal(disruptionPartOf(document, 'c'), { active: false, lastEventSeq: 0 });
});

test('the first control plane with an id continues the mode of the unnamed writer before it', () => {
  const legacy = evolveDisruption(NO_DISRUPTION, started);
  assert.equal(disruptionPartOf(legacy, 'cp-a'), { active: true, lastEventSeq: 1 });
  const ended = evolveDisruption(legacy, {
    type: 'DisruptionEnded',
    at: 20_000,
    seq: 2,
    endedBy: 'operator',
    controlPlane: 'cp-a',
  });
  assert.equal([ended.active, ended.endedBy], [false, 'operator']);
  assert.equal(ended.byControlPlane, { 'cp-a': { active: false, lastEventSeq: 2 } });
});

function taken(partition: number, controlPlane: string, epoch: number, at = 50_000): PartitionTaken {
  return { type: 'PartitionTaken', partition, epoch, controlPlane, at };
}

test('a control plane whose last partition another takes leaves disruption mode: it judges nobody', () => {
  let document = [taken(0, 'a', 1), taken(1, 'a', 2), taken(2, 'b', 3)].reduce(
    evolveDisruptionOnTakeover,
    NO_DISRUPTION,
  );
  document = evolveDisruption(document, { ...started, controlPlane: 'a' });
  // a dies in disruption mode: b takes its partitions one by one.
  document = evolveDisruptionOnTakeover(document, taken(0, 'b', 4));
  assert.is(document.active, true, 'a still holds partition 1');
  document = evolveDisruptionOnTakeover(document, taken(1, 'b', 5, 60_000));
  assert.equal(
    [document.active, document.endedAt, document.endedBy, document.since],
    [false, 60_000, 'takeover', started.at],
  );
  assert.equal(disruptionPartOf(document, 'a'), { active: false, lastEventSeq: 1 });
  assert.equal(document.partitionHolders, { 0: 'b', 1: 'b', 2: 'b' });
  // a comes back under its own id and takes a share again: its numbering goes on.
  document = evolveDisruptionOnTakeover(document, taken(1, 'a', 6));
  assert.is(document.active, false);
  assert.is(evolveDisruption(document, { ...started, controlPlane: 'a' }), document, 'seq 1 is a replay');
});

test("one control plane's takeover leaves another's disruption mode alone; taking back its own changes nothing", () => {
  let document = [taken(0, 'a', 1), taken(1, 'b', 2)].reduce(evolveDisruptionOnTakeover, NO_DISRUPTION);
  document = evolveDisruption(document, { ...started, controlPlane: 'a' });
  document = evolveDisruption(document, { ...started, seq: 1, controlPlane: 'b' });
  // a restarted takes its own partition back under a new epoch: still a holder, still in the mode.
  const retaken = evolveDisruptionOnTakeover(document, taken(0, 'a', 3));
  assert.equal(disruptionPartOf(retaken, 'a'), { active: true, lastEventSeq: 1 });
  // a dies: b takes partition 0; a's mode ends, b's goes on, and so does the fleet's.
  const afterA = evolveDisruptionOnTakeover(retaken, taken(0, 'b', 4));
  assert.equal(disruptionPartOf(afterA, 'a').active, false);
  assert.equal([afterA.active, afterA.endedBy], [true, null]);
});

test.run();
