import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { evolveTask, holdingOf, type TaskDocument, whyIgnored } from '../../projections/task-document.js';
import type { TaskEvent, TaskSpec } from '../../streams/contracts/task-events.js';

const spec: TaskSpec = {
  image: 'python:3.12',
  cpu: 2,
  memoryGb: 4,
  storageGb: 1,
  gpu: 0,
  type: 'cpu-light',
  k: 2,
  submittedAt: 1_000,
};

const submitted: TaskEvent = { type: 'TaskSubmitted', taskId: 't-1', at: 1_000, task: spec };
const assigned = (attempt: number, workerId: string, at = 2_000): TaskEvent => ({
  type: 'TaskAssigned',
  taskId: 't-1',
  at,
  workerId,
  attempt,
  basedOnWorkerSeq: 7,
  policy: 'rts',
});
const started = (attempt: number, workerId: string): TaskEvent => ({
  type: 'TaskStarted',
  taskId: 't-1',
  at: 3_000,
  workerId,
  attempt,
});
const completed = (attempt: number, workerId: string): TaskEvent => ({
  type: 'TaskCompleted',
  taskId: 't-1',
  at: 9_000,
  workerId,
  attempt,
  durationMs: 6_000,
});
const requeued = (attempt: number, workerId: string): TaskEvent => ({
  type: 'TaskRequeued',
  taskId: 't-1',
  at: 5_000,
  workerId,
  attempt,
  reason: 'worker-inactive',
});

function fold(events: readonly TaskEvent[], from?: TaskDocument): TaskDocument | undefined {
  return events.reduce<TaskDocument | undefined>(evolveTask, from);
}

test('a task goes queued → assigned → running → completed', () => {
  const statuses: string[] = [];
  let document: TaskDocument | undefined;
  for (const event of [submitted, assigned(1, 'tessa'), started(1, 'tessa'), completed(1, 'tessa')]) {
    document = evolveTask(document, event);
    statuses.push(document?.status ?? 'none');
  }
  assert.equal(statuses, ['queued', 'assigned', 'running', 'completed']);
  assert.is(document?.workerId, 'tessa');
  assert.is(document?.attempt, 1);
  assert.is(document?.basedOnWorkerSeq, 7);
  assert.equal(
    document?.history.map((entry) => entry.event),
    ['TaskSubmitted', 'TaskAssigned', 'TaskStarted', 'TaskCompleted'],
  );
});

test('a requeue gives the attempt up: queued again with attempt + 1, resources released', () => {
  const running = fold([submitted, assigned(1, 'tessa'), started(1, 'tessa')]);
  assert.equal(holdingOf(running), {
    workerId: 'tessa',
    requests: { cpu: 2, memoryGb: 4, storageGb: 1, gpu: 0 },
  });
  const queued = evolveTask(running, requeued(1, 'tessa'));
  assert.is(queued?.status, 'queued');
  assert.is(queued?.attempt, 2);
  assert.is(queued?.workerId, null);
  assert.is(holdingOf(queued), undefined);
});

test('late reports from an older attempt, or from another worker, change nothing', () => {
  const secondAttempt = fold([
    submitted,
    assigned(1, 'tessa'),
    started(1, 'tessa'),
    requeued(1, 'tessa'),
    assigned(2, 'kim'),
    started(2, 'kim'),
  ]);
  assert.is(secondAttempt?.status, 'running');
  for (const late of [
    completed(1, 'tessa'),
    started(1, 'tessa'),
    requeued(1, 'tessa'),
    completed(2, 'tessa'),
  ]) {
    assert.is(evolveTask(secondAttempt, late), secondAttempt, `${late.type} changed the task`);
  }
  assert.is(whyIgnored(secondAttempt, completed(1, 'tessa')), 'attempt 1 is not the current attempt 2');
  assert.is(whyIgnored(secondAttempt, completed(2, 'tessa')), 'attempt 2 runs on kim, not tessa');
  assert.is(evolveTask(secondAttempt, completed(2, 'kim'))?.status, 'completed');
});

test('replaying every event again is harmless (the fold is idempotent)', () => {
  const events = [
    submitted,
    assigned(1, 'tessa'),
    started(1, 'tessa'),
    requeued(1, 'tessa'),
    assigned(2, 'kim'),
  ];
  const once = fold(events);
  assert.equal(fold(events, once), once);
  for (const event of events) assert.is(evolveTask(once, event), once, `${event.type} applied twice`);
});

test('a finished task stays finished; cancelling works until then; unknown tasks are ignored', () => {
  const done = fold([submitted, assigned(1, 'tessa'), completed(1, 'tessa')]);
  const cancel: TaskEvent = { type: 'TaskCancelled', taskId: 't-1', at: 10_000, reason: 'cancelled by user' };
  assert.is(evolveTask(done, cancel), done);
  assert.is(evolveTask(done, assigned(1, 'kim')), done);
  assert.is(evolveTask(fold([submitted, assigned(1, 'tessa')]), cancel)?.status, 'cancelled');
  assert.is(evolveTask(undefined, completed(1, 'tessa')), undefined);
  assert.is(whyIgnored(undefined, completed(1, 'tessa')), 'unknown task');
  // A second assignment of the same attempt loses: the first one recorded wins.
  const first = fold([submitted, assigned(1, 'tessa')]);
  assert.is(evolveTask(first, assigned(1, 'kim')), first);
});

test.run();
