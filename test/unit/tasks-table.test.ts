import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { renderTaskDetails, renderTasksTable } from '../../cli/tasks-table.js';
import { colors } from '../../cli/terminal.js';
import { attemptsOf } from '../../projections/task-attempts.js';
import { taskFrom } from '../support/tasks.js';

const moved = taskFrom('t-moved', 10_000, {}, (taskId) => [
  {
    type: 'TaskAssigned',
    taskId,
    at: 11_000,
    workerId: 'tessa',
    attempt: 1,
    basedOnWorkerSeq: 4,
    policy: 'rts',
  },
  { type: 'TaskStarted', taskId, at: 11_500, workerId: 'tessa', attempt: 1 },
  { type: 'TaskRequeued', taskId, at: 20_000, workerId: 'tessa', attempt: 1, reason: 'worker-inactive' },
  {
    type: 'TaskAssigned',
    taskId,
    at: 20_100,
    workerId: 'kim',
    attempt: 2,
    basedOnWorkerSeq: 9,
    policy: 'rts',
  },
  { type: 'TaskStarted', taskId, at: 20_200, workerId: 'kim', attempt: 2 },
]);
const waiting = taskFrom('t-wait', 5_000);

test('the tasks table lists oldest first, with worker, attempt and a summary', () => {
  const lines = renderTasksTable([moved, waiting], 30_000, colors(false)).split('\n');
  assert.match(
    lines[0] ?? '',
    /^ID\s+STATUS\s+WORKER\s+ATTEMPT\s+TYPE\s+REQUESTS\s+IMAGE\s+SUBMITTED\s+SINCE$/,
  );
  assert.match(
    lines[1] ?? '',
    /^t-wait\s+queued\s+-\s+1\s+cpu-light\s+1 cpu, 0\.5 GB memory, 1 GB storage\s+python:3\.12\s+25s ago/,
  );
  assert.match(lines[2] ?? '', /^t-moved\s+running\s+kim\s+2\s+/);
  assert.is(lines.at(-1), '2 tasks: 1 queued, 1 running');
});

test('task show lists each attempt with its worker and outcome, and the audit trail', () => {
  assert.equal(attemptsOf(moved), [
    { attempt: 1, workerId: 'tessa', outcome: 'requeued: worker-inactive' },
    { attempt: 2, workerId: 'kim', outcome: 'running' },
  ]);
  const details = renderTaskDetails(moved, 30_000, colors(false));
  assert.match(details, /^task t-moved {2}running on kim \(attempt 2\) for 9s$/m);
  assert.match(details, /#1 {2}tessa\s+requeued: worker-inactive/);
  assert.match(details, /TaskAssigned\s+2\s+worker kim; based on WORKER_EVENTS seq 9/);
  assert.match(details, /command\s+- \(the worker simulates the work\)/);
  assert.equal(attemptsOf(waiting), [{ attempt: 1, workerId: '-', outcome: 'queued, never placed' }]);
});

test.run();
