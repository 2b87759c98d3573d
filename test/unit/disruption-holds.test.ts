import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { NO_DISRUPTION } from '../../projections/disruption-document.js';
import { evolveTask, type TaskDocument } from '../../projections/task-document.js';
import { DisruptionHolds } from '../../scheduler/disruption-holds.js';
import type { TaskEvent, TaskSpec } from '../../streams/contracts/task-events.js';
import type { Logger } from '../../streams/util/logger.js';

const spec: TaskSpec = {
  image: 'python:3.12',
  cpu: 1,
  memoryGb: 1,
  storageGb: 1,
  gpu: 0,
  type: 'cpu-light',
  k: 2,
  submittedAt: 1_000,
};

function assignedTask(taskId: string, attempt: number, workerId: string): TaskDocument {
  const events: TaskEvent[] = [
    { type: 'TaskSubmitted', taskId, at: 1_000, task: spec },
    { type: 'TaskAssigned', taskId, at: 2_000, workerId, attempt, basedOnWorkerSeq: 1, policy: 'rts' },
  ];
  const task = events.reduce<TaskDocument | undefined>(
    (document, event) => evolveTask(document, event),
    undefined,
  );
  if (!task) throw new Error('the fold made no document');
  return task;
}

function recordingLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  return {
    lines,
    info: (line) => lines.push(line),
    warn: (line) => lines.push(line),
    error: (line) => lines.push(line),
  };
}

test('an attempt is held once, however often its requeue is asked for', () => {
  const holds = new DisruptionHolds(recordingLogger());
  const task = assignedTask('t-1', 1, 'tessa');
  holds.hold(task, 'worker-inactive');
  holds.hold(task, 'missing-from-heartbeats');
  assert.is(holds.heldCount, 1);
  holds.hold(assignedTask('t-2', 1, 'kim'), 'worker-inactive');
  assert.is(holds.heldCount, 2);
});

test('release hands back every held attempt once, and forgets them', () => {
  const holds = new DisruptionHolds(recordingLogger());
  holds.hold(assignedTask('t-1', 1, 'tessa'), 'worker-inactive');
  holds.hold(assignedTask('t-2', 1, 'kim'), 'not-acknowledged');
  assert.equal(holds.release(), [
    { taskId: 't-1', attempt: 1, workerId: 'tessa' },
    { taskId: 't-2', attempt: 1, workerId: 'kim' },
  ]);
  assert.equal(holds.release(), []);
  // Released: the same attempt can be held again in the next disruption.
  holds.hold(assignedTask('t-1', 1, 'tessa'), 'worker-inactive');
  assert.is(holds.heldCount, 3);
});

test('only the end of disruption mode asks for the held to be judged again', () => {
  const logger = recordingLogger();
  const holds = new DisruptionHolds(logger);
  const active = { ...NO_DISRUPTION, active: true, since: 5_000, unhealthyWorkers: 3, consideredWorkers: 4 };
  const ended = { ...active, active: false, endedAt: 9_000, endedBy: 'operator' as const };
  assert.is(holds.noteChange({ before: NO_DISRUPTION, after: active }), false);
  assert.match(logger.lines.at(-1) ?? '', /^disruption mode \(3 of 4 workers unhealthy\)/);
  assert.is(holds.noteChange({ before: active, after: ended }), true);
  assert.match(logger.lines.at(-1) ?? '', /^disruption mode ended \(by operator\)/);
  assert.is(holds.noteChange({ before: ended, after: ended }), false);
});

test.run();
