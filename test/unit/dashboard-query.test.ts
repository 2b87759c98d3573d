import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseTaskQuery, parseWorkerQuery } from '../../control-plane/dashboard/query.js';
import { statusTimeline } from '../../control-plane/dashboard/timeline.js';
import type { WorkerStreamEvent } from '../../streams/contracts/worker-events.js';

const workerQuery = (text: string) => parseWorkerQuery(new URLSearchParams(text));

test('a worker query without parameters: page 1 of 50 by id, removed workers left out', () => {
  const parsed = workerQuery('');
  assert.ok(parsed.ok);
  if (!parsed.ok) return;
  assert.equal(
    { ...parsed.value, statuses: [...parsed.value.statuses] },
    {
      page: 1,
      size: 50,
      sort: 'id',
      descending: false,
      statuses: ['active', 'suspect', 'inactive'],
      search: '',
    },
  );
});

test('a worker query takes a descending sort, a status list or all, and searches in lower case', () => {
  const parsed = workerQuery('page=3&size=500&sort=-lastSeen&status=suspect,removed&search=Kim_1');
  assert.ok(parsed.ok);
  if (!parsed.ok) return;
  assert.is(parsed.value.page, 3);
  assert.is(parsed.value.size, 500);
  assert.is(parsed.value.sort, 'lastSeen');
  assert.is(parsed.value.descending, true);
  assert.equal([...parsed.value.statuses], ['suspect', 'removed']);
  assert.is(parsed.value.search, 'kim_1');
  const all = workerQuery('status=all');
  assert.equal(all.ok && [...all.value.statuses], ['active', 'suspect', 'inactive', 'left', 'removed']);
});

test('bad worker queries are refused with what is allowed', () => {
  assert.equal(workerQuery('size=501'), {
    ok: false,
    error: 'size must be a whole number from 1 to 500, got "501"',
  });
  assert.equal(workerQuery('page=1e3'), {
    ok: false,
    error: 'page must be a whole number from 1, got "1e3"',
  });
  assert.equal(workerQuery('page=9999999999'), {
    ok: false,
    error: 'page must be a whole number from 1, got "9999999999"',
  });
  assert.equal(workerQuery('sort=-'), {
    ok: false,
    error:
      'sort must be one of id, status, lastSeen, address, cpu, tasks, since (a leading - sorts descending), got "-"',
  });
  assert.equal(workerQuery('status=active,'), {
    ok: false,
    error:
      'status must be a comma-separated list of active, suspect, inactive, left, removed (or all), got "active,"',
  });
  assert.equal(workerQuery(`search=${'a'.repeat(65)}`).ok, false);
  assert.equal(workerQuery('search=a.b').ok, false);
});

test('task queries page and filter by task status', () => {
  const parsed = parseTaskQuery(new URLSearchParams('status=queued,running&page=2'));
  assert.equal(parsed.ok && { ...parsed.value, statuses: [...parsed.value.statuses] }, {
    page: 2,
    size: 50,
    statuses: ['queued', 'running'],
  });
  assert.equal(parseTaskQuery(new URLSearchParams('sort=id')), {
    ok: false,
    error: 'unknown query parameter "sort": use page, size, status',
  });
});

test('the timeline joins events into stretches, the last one open', () => {
  const events: WorkerStreamEvent[] = [
    {
      type: 'WorkerRegistered',
      workerId: 'kim',
      at: 100,
      seq: 1,
      address: '',
      capacity: { cpu: 1, memoryGb: 1, storageGb: 1, gpu: 0 },
    },
    { type: 'WorkerCordoned', workerId: 'kim', at: 150, seq: 2 },
    { type: 'WorkerSuspected', workerId: 'kim', at: 200, seq: 3, silentForMs: 50, phi: null },
    { type: 'WorkerInactive', workerId: 'kim', at: 300, seq: 4, lastHeartbeatAt: 90, silentForMs: 210 },
    { type: 'WorkerActivated', workerId: 'kim', at: 400, seq: 5, lastHeartbeatAt: 400 },
  ] as WorkerStreamEvent[];
  assert.equal(statusTimeline(events), [
    { status: 'active', from: 100, to: 200 },
    { status: 'suspect', from: 200, to: 300 },
    { status: 'inactive', from: 300, to: 400 },
    { status: 'active', from: 400, to: null },
  ]);
  assert.equal(statusTimeline([]), []);
});

test.run();
