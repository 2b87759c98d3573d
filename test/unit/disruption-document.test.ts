import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { disruptionPartOf, evolveDisruption, NO_DISRUPTION } from '../../projections/disruption-document.js';
import type { DisruptionEvent } from '../../streams/contracts/worker-events.js';

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

test.run();
