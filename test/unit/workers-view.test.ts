import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ConfigError } from '../../cli/config.js';
import { colors, formatClock, formatDateTime } from '../../cli/terminal.js';
import { parseWorkerFilter, selectWorkers, type WorkerFilter } from '../../cli/worker-selection.js';
import { addComputedColumns, renderWorkerStats } from '../../cli/worker-stats.js';
import { renderWorkersTable } from '../../cli/workers-table.js';
import { NO_DISRUPTION } from '../../projections/disruption-document.js';
import { isSchedulable, type WorkerDocument } from '../../projections/worker-document.js';
import {
  EVERY_STATE_FIGURES_AT_60,
  everyStateHistory,
  foldWorker as fold,
  workerDocument,
} from '../support/workers.js';

const MINUTE = 60_000;
/** A fixed moment, so that every duration and figure below is exact. */
const BASE = Date.UTC(2026, 10, 27, 12, 0, 0);
const NOW = BASE + 60 * MINUTE;
const plain = colors(false);

const at = (minutes: number) => BASE + minutes * MINUTE;

const fleet: WorkerDocument[] = [
  fold('amy', everyStateHistory(at)),
  fold('ben', [
    ['registered', at(0)],
    ['suspected', at(50)],
  ]),
  fold('cat', [
    ['registered', at(0)],
    ['inactive', at(5)],
    ['cordoned', at(6)],
  ]),
  fold('dan', [
    ['registered', at(0)],
    ['removed', at(20)],
  ]),
  fold('eve', [['registered', at(0)]]),
];

const byId = (workerId: string) => {
  const found = fleet.find((worker) => worker.workerId === workerId);
  if (!found) throw new Error(workerId);
  return found;
};

test('the table shows every new state, and SCHEDULABLE agrees with isSchedulable', () => {
  const { workers, hiddenRemoved } = selectWorkers(fleet, undefined, false);
  const output = renderWorkersTable(workers, NOW, plain, { hiddenRemoved, disruption: NO_DISRUPTION });
  const lines = output.split('\n');
  assert.match(lines[0] ?? '', /^ID\s+STATUS\s+SCHEDULABLE\s+LAST SEEN/);
  assert.match(output, /^amy\s+● active\s+no: cordoned, flapping\s+/m);
  assert.match(output, /^ben\s+◐ suspect\s+no\s+/m);
  assert.match(output, /^cat\s+○ inactive\s+no: cordoned\s+/m);
  assert.match(output, /^eve\s+● active\s+yes\s+/m);
  assert.not.match(output, /^dan/m, 'removed workers are hidden by default');
  for (const worker of workers) {
    const row = lines.find((line) => line.startsWith(`${worker.workerId} `)) ?? '';
    assert.is(/\s(yes)\s/.test(row), isSchedulable(worker), worker.workerId);
  }
  assert.is(
    lines.at(-1),
    '4 workers: 2 active, 1 suspect, 1 inactive; 1 schedulable, 2 cordoned, 1 flapping (1 removed not shown: --all shows them)',
  );
  assert.not.ok(output.includes('disruption'), 'no banner outside disruption mode');
});

test('with --all the removed worker is a row and counted', () => {
  const { workers, hiddenRemoved } = selectWorkers(fleet, undefined, true);
  const output = renderWorkersTable(workers, NOW, plain, { hiddenRemoved });
  assert.match(output, /^dan\s+✕ removed\s+no\s+/m);
  assert.match(
    output,
    /\n5 workers: 2 active, 1 suspect, 1 inactive, 1 removed; 1 schedulable, 2 cordoned, 1 flapping$/,
  );
});

test('disruption mode is a banner above the table, yellow when colour is on', () => {
  const disruption = {
    ...NO_DISRUPTION,
    active: true,
    since: at(55),
    unhealthyWorkers: 3,
    consideredWorkers: 5,
    lastEventSeq: 1,
  };
  const output = renderWorkersTable([byId('eve')], NOW, plain, { disruption });
  assert.is(
    output.split('\n')[0],
    `disruption mode since ${formatClock(at(55))} (5m00s; 3 of 5 workers unhealthy when it started): ` +
      'no worker is declared inactive; end it with `cloudai disruption end`',
  );
  assert.match(output, /\n\nID\s+STATUS/);
  const coloured = renderWorkersTable([byId('eve')], NOW, colors(true), { disruption });
  assert.ok(coloured.startsWith('\u001b[33mdisruption mode since'));
  const ended = renderWorkersTable([byId('eve')], NOW, plain, {
    disruption: { ...disruption, active: false, endedAt: at(58), endedBy: 'operator' },
  });
  assert.not.ok(ended.includes('disruption'), 'an ended disruption is not announced');
});

test('nothing to show: says so, and why when removed workers were left out', () => {
  assert.match(renderWorkersTable([], NOW, plain), /^no workers yet: start one with `cloudai worker/);
  assert.is(
    renderWorkersTable([], NOW, plain, { hiddenRemoved: 2 }),
    'no workers to show (2 removed not shown: --all shows them)',
  );
});

test('--status takes a status, schedulable or not, or a flag; removed ones only when asked for', () => {
  const ids = (filter: WorkerFilter | undefined, all = false) =>
    selectWorkers(fleet, filter, all).workers.map((worker) => worker.workerId);
  assert.equal(ids('active'), ['amy', 'eve']);
  assert.equal(ids('suspect'), ['ben']);
  assert.equal(ids('inactive'), ['cat']);
  assert.equal(ids('removed'), ['dan']);
  assert.equal(ids('schedulable'), ['eve']);
  assert.equal(ids('unschedulable'), ['amy', 'ben', 'cat']);
  assert.equal(ids('unschedulable', true), ['amy', 'ben', 'cat', 'dan']);
  assert.equal(ids('cordoned'), ['amy', 'cat']);
  assert.equal(ids('flapping'), ['amy']);
  assert.equal(ids('draining'), []);
  assert.is(selectWorkers(fleet, 'unschedulable', false).hiddenRemoved, 1);
  assert.is(selectWorkers(fleet, 'suspect', false).hiddenRemoved, 0);
  assert.is(parseWorkerFilter('suspect'), 'suspect');
  assert.is(parseWorkerFilter(undefined), undefined);
  assert.throws(
    () => parseWorkerFilter('toString'),
    (error: Error) =>
      error instanceof ConfigError &&
      error.message ===
        '--status "toString" is not a status: use one of active, suspect, inactive, left, removed, schedulable, unschedulable, flapping, cordoned, draining',
  );
});

test('workers stats: a readable block of the figures', () => {
  assert.is(
    renderWorkerStats(byId('amy'), NOW, plain),
    [
      `amy  ● active for 20m00s, since ${formatDateTime(at(40))}`,
      '',
      `  registered                        ${formatDateTime(at(0))} (1h00m ago)`,
      '  last seen                         20m00s ago',
      '  schedulable                       no (flapping: until it stays up for the hold-down time; cordoned: `cloudai workers uncordon amy` lifts it)',
      '  time active                       49m00s (81.7%)',
      '  time suspect                      1m00s (1.7%)',
      '  time inactive                     10m00s (16.7%)',
      '  outages                           1 (1 recovered)',
      '  mean time to recovery             10m00s',
      '  availability, last 24 h           83.33%',
      '  availability, since registration  83.33%',
    ].join('\n'),
  );
});

test('workers stats of a removed worker, and of one that never recovered', () => {
  const removed = renderWorkerStats(byId('dan'), NOW, plain);
  assert.match(
    removed,
    new RegExp(`^dan  ✕ removed since ${formatDateTime(at(20))}: its figures stop there\n`),
  );
  assert.match(removed, /time active\s+20m00s \(100\.0%\)/);
  assert.match(removed, /schedulable\s+no \(removed\)$/m);
  const down = renderWorkerStats(byId('cat'), NOW, plain);
  assert.match(down, /mean time to recovery\s+- \(no recovery yet\)/);
  assert.match(down, /availability, last 24 h\s+8\.33%/);
  assert.match(down, /schedulable\s+no \(inactive; cordoned: `cloudai workers uncordon cat` lifts it\)/);
  const fresh = renderWorkerStats(fold('new', [['registered', NOW]]), NOW, plain);
  assert.match(fresh, /availability, last 24 h\s+- \(no time observed\)/);
  assert.match(fresh, /time active\s+0ms$/m);
});

test('availability is rounded down: nearly always up never reads as 100%', () => {
  const almost = fold('x', [
    ['registered', BASE],
    ['inactive', BASE + 10 * MINUTE],
    ['activated', BASE + 10 * MINUTE + 1_000],
  ]);
  assert.match(renderWorkerStats(almost, BASE + 1_000 * MINUTE, plain), /since registration\s+99\.99%/);
});

test('--json: the stored document, then schedulable and the stats at that moment', () => {
  const amy = { ...byId('amy') }; // a copy: the columns are added to the document itself
  const stored = Object.keys(amy);
  const json = addComputedColumns(amy, NOW);
  assert.equal(Object.keys(json), [...stored, 'schedulable', 'stats']);
  assert.is(json.schedulable, false);
  assert.equal(json.stats, EVERY_STATE_FIGURES_AT_60);
  const legacy = workerDocument('old', { statusSince: NOW - MINUTE });
  assert.is(addComputedColumns(legacy, NOW).stats.activeMs, MINUTE, 'a document without uptime still reads');
  assert.is(addComputedColumns(legacy, NOW).schedulable, true);
});

test.run();
