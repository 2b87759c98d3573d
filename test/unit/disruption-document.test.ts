import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { evolveDisruption, NO_DISRUPTION } from '../../projections/disruption-document.js';
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

test.run();
