import { setTimeout as sleep } from 'node:timers/promises';
import { jetstream } from '@nats-io/jetstream';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { specOf } from '../../projections/task-document.js';
import {
  TASK_SUBMIT_SUBJECT,
  taskAssignSubject,
  taskEventSubject,
  taskReportSubject,
} from '../../streams/contracts/subjects.js';
import {
  assignmentReplySchema,
  encodeTaskEvent,
  reportReplySchema,
  submitReplySchema,
  type TaskEvent,
  taskEventMessageId,
} from '../../streams/contracts/task-events.js';
import { requestJson } from '../../streams/nats/request-reply.js';
import { encodeJson } from '../../streams/util/json-codec.js';
import { waitFor } from '../support/nats.js';
import { readTaskEvents, readWorkerEvents } from '../support/stream.js';
import { withTaskCluster } from '../support/task-cluster.js';

const small = { cpu: 4, memoryGb: 8, storageGb: 100, gpu: 0 };
const large = { cpu: 8, memoryGb: 32, storageGb: 100, gpu: 0 };

const assignedTo = (events: Awaited<ReturnType<typeof readTaskEvents>>) =>
  events.flatMap(({ event }) => (event.type === 'TaskAssigned' ? [event.workerId] : []));

test('with some workers inactive, no task is ever assigned to them', async () => {
  await withTaskCluster({}, async (cluster) => {
    await cluster.addWorker('a', small, { taskMs: 5_000 });
    const b = await cluster.addWorker('b', large);
    const c = await cluster.addWorker('c', large);
    b.silence();
    c.silence();
    await cluster.waitForWorker('b', 'inactive');
    await cluster.waitForWorker('c', 'inactive');

    const replies = [];
    for (let i = 0; i < 6; i++) replies.push(await cluster.submit({ cpu: 1 }));
    assert.equal(
      replies.map((reply) => (reply.ok ? reply.outcome.kind : reply.error)),
      ['assigned', 'assigned', 'assigned', 'assigned', 'queued', 'queued'],
    );
    const fifth = replies[4];
    assert.is(
      fifth?.ok && fifth.outcome.kind === 'queued' && fifth.outcome.reason,
      'no schedulable worker has 1 cpu free (most free: 0 cpu on a)',
    );
    const events = await readTaskEvents(cluster.client);
    assert.equal([...new Set(assignedTo(events))], ['a'], 'only the active worker got tasks');
    // The read model follows the stream a moment behind the scheduler's replies.
    await waitFor(() => cluster.worker('a')?.taskIds.length === 4, 2_000, 'four tasks held by a');
    assert.equal(cluster.worker('a')?.allocated, { cpu: 4, memoryGb: 2, storageGb: 4, gpu: 0 });
  });
});

test('a task that fits nowhere queues, and is placed as soon as a worker registers or returns', async () => {
  await withTaskCluster({}, async (cluster) => {
    await cluster.addWorker('a', small);
    const big = await cluster.addWorker('big', large);
    big.silence();
    await cluster.waitForWorker('big', 'inactive');

    const tooLarge = await cluster.submit({ cpu: 6, memoryGb: 16 });
    assert.equal(tooLarge.ok && tooLarge.outcome, {
      kind: 'queued',
      reason:
        'no schedulable worker is large enough for 6 cpu, 16 GB memory (largest: 4 cpu on a, 8 GB memory on a)',
    });
    const gpu = await cluster.submit({ gpu: 1 });
    assert.is(gpu.ok && gpu.outcome.kind, 'queued');

    // `big` returns: the large task is placed on it without any other trigger.
    big.resume();
    const returnedAt = Date.now();
    const placed = await cluster.waitForTask('t-0001', (task) => task.status !== 'queued', 'placed');
    assert.is(placed.workerId, 'big');
    assert.ok(
      Date.now() - returnedAt < 1_500,
      `placed ${Date.now() - returnedAt} ms after the worker returned`,
    );

    // A new worker with a GPU registers: the GPU task goes there.
    await cluster.addWorker('gpu-box', { cpu: 4, memoryGb: 16, storageGb: 100, gpu: 1 });
    const gpuTask = await cluster.waitForTask('t-0002', (task) => task.status !== 'queued', 'placed');
    assert.is(gpuTask.workerId, 'gpu-box');

    // Each placement cites a WORKER_EVENTS position at which its worker was already active.
    const workerEvents = await readWorkerEvents(cluster.client);
    for (const { event } of await readTaskEvents(cluster.client)) {
      if (event.type !== 'TaskAssigned') continue;
      const lastBefore = workerEvents
        .filter(
          ({ streamSeq, event: w }) => streamSeq <= event.basedOnWorkerSeq && w.workerId === event.workerId,
        )
        .at(-1);
      assert.ok(
        lastBefore && lastBefore.event.type !== 'WorkerInactive',
        `${event.taskId} on ${event.workerId}`,
      );
    }
  });
});

test('a worker dies with two running tasks: both complete elsewhere, its late reports are ignored', async () => {
  await withTaskCluster({}, async (cluster) => {
    // tessa's tasks take 1.5 s; she goes silent at once (a partition: her agent keeps working).
    const tessa = await cluster.addWorker('tessa', small, { taskMs: 1_500 });
    for (let i = 0; i < 2; i++) {
      const reply = await cluster.submit({ cpu: 2 });
      assert.equal(reply.ok && reply.outcome, { kind: 'assigned', workerId: 'tessa' });
    }
    await cluster.waitForTask('t-0002', (task) => task.status === 'running', 'running');
    await cluster.addWorker('kim', small, { taskMs: 200 });
    tessa.silence();

    for (const taskId of ['t-0001', 't-0002']) {
      const done = await cluster.waitForTask(
        taskId,
        (task) => task.status === 'completed',
        'completed',
        5_000,
      );
      assert.is(done.workerId, 'kim');
      assert.is(done.attempt, 2);
    }
    // tessa finishes her old attempts afterwards and reports them: too late to count.
    await waitFor(() => tessa.agent?.stats.completed === 2, 5_000, 'tessa reports her old attempts');
    await waitFor(
      () =>
        cluster.controlPlane.taskProjector.stats.ignored >= 2 &&
        cluster.controlPlane.scheduler.stats.ignoredEvents >= 2,
      2_000,
      'late reports seen and ignored',
    );
    const events = await readTaskEvents(cluster.client);
    const late = events.filter(
      ({ event }) => event.type === 'TaskCompleted' && event.workerId === 'tessa' && event.attempt === 1,
    );
    assert.is(late.length, 2, 'the late reports are in the stream');
    for (const taskId of ['t-0001', 't-0002']) {
      const task = cluster.task(taskId);
      assert.is(task?.status, 'completed');
      assert.is(task?.workerId, 'kim');
      assert.equal(
        task?.history.map((entry) => `${entry.event}#${entry.attempt}`),
        [
          'TaskSubmitted#1',
          'TaskAssigned#1',
          'TaskStarted#1',
          'TaskRequeued#1',
          'TaskAssigned#2',
          'TaskStarted#2',
          'TaskCompleted#2',
        ],
      );
      assert.match(task?.history[3]?.reason ?? '', /^worker-inactive/);
    }
    assert.equal(cluster.worker('tessa')?.allocated, { cpu: 0, memoryGb: 0, storageGb: 0, gpu: 0 });
  });
});

test('round-robin spreads tasks over all active workers, not all on one', async () => {
  await withTaskCluster({ policy: 'round-robin' }, async (cluster) => {
    for (const id of ['w1', 'w2', 'w3']) await cluster.addWorker(id, large, { taskMs: 5_000 });
    const gone = await cluster.addWorker('w0', large);
    gone.silence();
    await cluster.waitForWorker('w0', 'inactive');
    const placed = [];
    for (let i = 0; i < 6; i++) {
      const reply = await cluster.submit();
      placed.push(reply.ok && reply.outcome.kind === 'assigned' ? reply.outcome.workerId : 'queued');
    }
    assert.equal(placed, ['w1', 'w2', 'w3', 'w1', 'w2', 'w3']);
    assert.ok(
      (await readTaskEvents(cluster.client)).every(
        ({ event }) => event.type !== 'TaskAssigned' || event.policy === 'round-robin',
      ),
    );
  });
});

test('RTS (the default) spreads equal tasks over equal workers by load', async () => {
  await withTaskCluster({}, async (cluster) => {
    for (const id of ['w1', 'w2', 'w3']) await cluster.addWorker(id, large, { taskMs: 5_000 });
    const placed = new Map<string, number>();
    for (let i = 0; i < 6; i++) {
      const reply = await cluster.submit();
      const workerId = reply.ok && reply.outcome.kind === 'assigned' ? reply.outcome.workerId : 'queued';
      placed.set(workerId, (placed.get(workerId) ?? 0) + 1);
    }
    assert.equal(Object.fromEntries(placed), { w1: 2, w2: 2, w3: 2 });
  });
});

test('an assignment nobody acknowledges fails, and the task is placed elsewhere', async () => {
  await withTaskCluster({ policy: 'round-robin' }, async (cluster) => {
    // Heartbeats from a worker without an agent: it looks alive, but never takes a task.
    await cluster.addWorker('a-mute', large, { agent: false });
    await cluster.addWorker('b-real', large);
    const reply = await cluster.submit();
    assert.equal(reply.ok && reply.outcome, { kind: 'assigned', workerId: 'b-real' });
    const events = (await readTaskEvents(cluster.client)).map(({ event }) => event);
    assert.equal(
      events.map((event) => `${event.type}${'workerId' in event ? `:${event.workerId}` : ''}`),
      [
        'TaskSubmitted',
        'TaskAssigned:a-mute',
        'TaskRequeued:a-mute',
        'TaskAssigned:b-real',
        'TaskStarted:b-real',
      ],
    );
    const requeue = events[2];
    assert.is(
      requeue?.type === 'TaskRequeued' && requeue.reason,
      'not-acknowledged: no agent listens for it',
    );
    await cluster.waitForTask('t-0001', (task) => task.status === 'completed', 'completed');
  });
});

test('a queued task is placed as soon as a finished task frees room, without any poll', async () => {
  await withTaskCluster({}, async (cluster) => {
    await cluster.addWorker('tessa', small, { taskMs: 400 });
    const first = await cluster.submit({ cpu: 4 });
    assert.equal(first.ok && first.outcome, { kind: 'assigned', workerId: 'tessa' });
    const second = await cluster.submit({ cpu: 4 });
    assert.is(second.ok && second.outcome.kind, 'queued');
    await cluster.waitForTask('t-0001', (task) => task.status === 'completed', 'first completed');
    await cluster.waitForTask('t-0002', (task) => task.status !== 'queued', 'second placed', 1_000);
    assert.is(cluster.task('t-0002')?.workerId, 'tessa');
  });
});

test('a worker that refuses an assignment (busy with work the log does not know) gets it requeued elsewhere', async () => {
  await withTaskCluster({ policy: 'round-robin' }, async (cluster) => {
    const busy = await cluster.addWorker('a-busy', small, { taskMs: 10_000 });
    await cluster.addWorker('b-free', small);
    // Work given to a-busy's agent behind the scheduler's back fills it up.
    const outOfBand = await requestJson(
      cluster.client,
      taskAssignSubject('a-busy'),
      {
        taskId: 't-side',
        attempt: 1,
        task: {
          image: 'side',
          cpu: 4,
          memoryGb: 8,
          storageGb: 1,
          gpu: 0,
          type: 'cpu-heavy',
          k: 2,
          submittedAt: 0,
        },
      },
      assignmentReplySchema,
      2_000,
    );
    assert.equal(outOfBand.ok && outOfBand.value, { accepted: true });
    const reply = await cluster.submit({ cpu: 2 });
    assert.equal(reply.ok && reply.outcome, { kind: 'assigned', workerId: 'b-free' });
    const events = (await readTaskEvents(cluster.client)).map(({ event }) => event);
    const requeue = events.find((event) => event.type === 'TaskRequeued');
    assert.is(requeue?.type === 'TaskRequeued' && requeue.workerId, 'a-busy');
    assert.match(
      requeue?.type === 'TaskRequeued' ? requeue.reason : '',
      /^refused-by-worker: it needs 2 cpu.* and only .* is free here$/,
    );
    assert.is(busy.agent?.stats.refused, 1);
  });
});

test('cancel stops a running task on its worker; a finished task cannot be cancelled', async () => {
  await withTaskCluster({}, async (cluster) => {
    const worker = await cluster.addWorker('tessa', small);
    const reply = await cluster.submit({ command: 'sleep 30' });
    assert.is(reply.ok && reply.outcome.kind, 'assigned');
    await cluster.waitForTask('t-0001', (task) => task.status === 'running', 'running');
    assert.equal(await cluster.cancel('t-0001'), { ok: true, taskId: 't-0001', previousStatus: 'running' });
    await cluster.waitForTask('t-0001', (task) => task.status === 'cancelled', 'cancelled');
    await waitFor(() => worker.agent?.stats.stopped === 1, 2_000, 'the agent stops the command');
    assert.equal(worker.agent?.runningTasks(), []);
    assert.equal(await cluster.cancel('t-0001'), {
      ok: false,
      error: 'task t-0001 is already cancelled: there is nothing to cancel',
    });
    assert.equal(await cluster.cancel('t-nope'), {
      ok: false,
      error: 'no task t-nope: list the tasks with `cloudai tasks`',
    });
    assert.equal(cluster.worker('tessa')?.allocated, { cpu: 0, memoryGb: 0, storageGb: 0, gpu: 0 });
  });
});

test('bad input on the wire is refused or counted, and nothing stops working', async () => {
  await withTaskCluster({}, async (cluster) => {
    const worker = await cluster.addWorker('tessa', small);
    const js = jetstream(cluster.client);
    // Garbage stored in TASKS, and a well-formed report about a task nobody submitted.
    await js.publish(taskEventSubject('t-garbage'), new TextEncoder().encode('{"type":"TaskSubmitted",'));
    const ghost: TaskEvent = {
      type: 'TaskCompleted',
      taskId: 't-ghost',
      at: 1,
      workerId: 'tessa',
      attempt: 1,
      durationMs: 1,
    };
    await js.publish(taskEventSubject('t-ghost'), encodeTaskEvent(ghost), {
      msgID: taskEventMessageId(ghost),
    });

    const malformed = await cluster.client.request(
      TASK_SUBMIT_SUBJECT,
      new TextEncoder().encode('not json'),
      {
        timeout: 2_000,
      },
    );
    const refused = submitReplySchema.parse(JSON.parse(new TextDecoder().decode(malformed.data)));
    assert.equal(refused.ok ? 'accepted' : refused.error.split(':')[0], 'malformed submit request');
    const badFields = await cluster.submit({ cpu: -1, type: 'quantum', k: 9 });
    assert.is(
      badFields.ok ? 'accepted' : badFields.error,
      'cpu must be a number of cores ≥ 0, got -1; type "quantum" is not a task type: use one of cpu-light, ' +
        'cpu-heavy, memory-heavy, gpu-inference, gpu-training, mixed, or leave it out to infer it from the ' +
        'requests; k (the SLA multiplier) must be between 1.5 and 2.5, got 9',
    );
    const badId = await cluster.submit({}, 'bad.id');
    assert.match(badId.ok ? '' : badId.error, /^task id "bad\.id" is invalid/);
    const garbageOffer = await requestJson(
      cluster.client,
      taskAssignSubject('tessa'),
      { taskId: 't-1', attempt: 0 },
      assignmentReplySchema,
      2_000,
    );
    assert.is(garbageOffer.ok && garbageOffer.value.accepted, false);
    cluster.client.publish(taskAssignSubject('tessa'), encodeJson('noise'));
    // Reports reach TASKS only through the scheduler, and only about the reporter's own attempts.
    const spoofed = await requestJson(
      cluster.client,
      taskReportSubject('mallory'),
      ghost,
      reportReplySchema,
      2_000,
    );
    assert.equal(spoofed.ok && spoofed.value, {
      stored: false,
      reason: 'a worker reports only its own attempts (this report names tessa)',
    });
    const garbageReport = await requestJson(
      cluster.client,
      taskReportSubject('tessa'),
      { type: 'TaskStarted' },
      reportReplySchema,
      2_000,
    );
    assert.is(garbageReport.ok && garbageReport.value.stored, false);

    const good = await cluster.submit({}, 't-good');
    assert.equal(good.ok && good.outcome, { kind: 'assigned', workerId: 'tessa' });
    await cluster.waitForTask('t-good', (task) => task.status === 'completed', 'completed');
    const { scheduler, taskProjector } = cluster.controlPlane;
    assert.is(scheduler.stats.invalidEvents, 1);
    assert.is(taskProjector.stats.invalid, 1);
    assert.ok(
      scheduler.stats.ignoredEvents >= 1 && taskProjector.stats.ignored >= 1,
      'the ghost report is ignored',
    );
    assert.is(cluster.task('t-ghost'), undefined);
    assert.is(scheduler.stats.rejectedRequests, 3);
    assert.is(worker.agent?.stats.malformed, 2);
    assert.equal(
      cluster.tasks().map((task) => task.taskId),
      ['t-good'],
      'refused submissions stored nothing',
    );
  });
});

test('an agent acknowledges a repeated offer of an attempt that already ran, and does not run it again', async () => {
  await withTaskCluster({}, async (cluster) => {
    const worker = await cluster.addWorker('tessa', small, { taskMs: 100 });
    const reply = await cluster.submit({ cpu: 1 });
    assert.equal(reply.ok && reply.outcome, { kind: 'assigned', workerId: 'tessa' });
    await cluster.waitForTask('t-0001', (task) => task.status === 'completed', 'completed');
    await waitFor(() => worker.agent?.runningTasks().length === 0, 2_000, 'the final report stored');
    const task = cluster.task('t-0001');
    assert.ok(task);
    // What a restarted scheduler would send again for an attempt it had recorded.
    const repeated = await requestJson(
      cluster.client,
      taskAssignSubject('tessa'),
      { taskId: 't-0001', attempt: 1, task: task && specOf(task) },
      assignmentReplySchema,
      2_000,
    );
    assert.equal(repeated.ok && repeated.value, { accepted: true });
    await sleep(300);
    assert.is(worker.agent?.stats.completed, 1, 'ran once');
    assert.equal(worker.agent?.runningTasks(), []);
  });
});

test.run();
