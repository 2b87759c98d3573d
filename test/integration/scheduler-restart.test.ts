import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { TASKS_STREAM, taskEventSubject, WORKER_EVENTS_STREAM } from '../../streams/contracts/subjects.js';
import { encodeTaskEvent, type TaskEvent, taskEventMessageId } from '../../streams/contracts/task-events.js';
import { waitFor } from '../support/nats.js';
import { readTaskEvents } from '../support/stream.js';
import { withTaskCluster } from '../support/task-cluster.js';

const twoCores = { cpu: 2, memoryGb: 8, storageGb: 100, gpu: 0 };

test('a scheduler restarted in the middle assigns no task twice and forgets none', async () => {
  await withTaskCluster({}, async (cluster) => {
    const a = await cluster.addWorker('a', twoCores, { taskMs: 600 });
    const b = await cluster.addWorker('b', twoCores, { taskMs: 600 });
    const outcomes = [];
    for (let i = 0; i < 6; i++) {
      const reply = await cluster.submit({ cpu: 1 });
      outcomes.push(reply.ok ? reply.outcome.kind : reply.error);
    }
    assert.equal(outcomes, ['assigned', 'assigned', 'assigned', 'assigned', 'queued', 'queued']);

    // The control plane stops while four tasks run and two wait.
    await cluster.controlPlane.close();
    // Meanwhile the running tasks end; their agents keep the reports until a scheduler stores them.
    await waitFor(
      () => (a.agent?.stats.completed ?? 0) + (b.agent?.stats.completed ?? 0) === 4,
      3_000,
      'four done',
    );
    // And the stopped scheduler had decided one more placement it never got to offer.
    const jsm = await jetstreamManager(cluster.client);
    const workerSeq = (await jsm.streams.info(WORKER_EVENTS_STREAM)).state.last_seq;
    const halfDone: TaskEvent = {
      type: 'TaskAssigned',
      taskId: 't-0005',
      at: Date.now(),
      workerId: 'a',
      attempt: 1,
      basedOnWorkerSeq: workerSeq,
      policy: 'rts',
    };
    await jetstream(cluster.client).publish(taskEventSubject('t-0005'), encodeTaskEvent(halfDone), {
      msgID: taskEventMessageId(halfDone),
    });
    const lastTaskSeq = (await jsm.streams.info(TASKS_STREAM)).state.last_seq;

    await cluster.startControlPlane();
    // It starts from the read model caught up to the stream: nothing missed, nothing applied twice.
    assert.is(cluster.controlPlane.scheduler.taskPosition >= lastTaskSeq, true);
    for (let i = 1; i <= 6; i++) {
      const taskId = `t-${String(i).padStart(4, '0')}`;
      await cluster.waitForTask(taskId, (task) => task.status === 'completed', 'completed', 5_000);
    }

    const events = (await readTaskEvents(cluster.client)).map(({ event }) => event);
    for (let i = 1; i <= 6; i++) {
      const taskId = `t-${String(i).padStart(4, '0')}`;
      const of = (type: TaskEvent['type']) =>
        events.filter((event) => event.taskId === taskId && event.type === type);
      assert.is(of('TaskAssigned').length, 1, `${taskId} assigned once`);
      assert.is(of('TaskStarted').length, 1, `${taskId} started once`);
      assert.is(of('TaskCompleted').length, 1, `${taskId} completed once`);
      assert.is(of('TaskRequeued').length, 0, `${taskId} never requeued`);
    }
    assert.is(cluster.task('t-0005')?.workerId, 'a', 'the recorded placement was honoured, not redone');
    assert.is(
      (a.agent?.stats.completed ?? 0) + (b.agent?.stats.completed ?? 0),
      6,
      'each task ran exactly once',
    );
  });
});

test('tasks an agent lost (it restarted within the timeout) are requeued from its heartbeats', async () => {
  await withTaskCluster({}, async (cluster) => {
    const a = await cluster.addWorker('a', twoCores, { taskMs: 5_000 });
    const reply = await cluster.submit({ cpu: 1 });
    assert.equal(reply.ok && reply.outcome, { kind: 'assigned', workerId: 'a' });
    await cluster.waitForTask('t-0001', (task) => task.status === 'running', 'running');
    // The agent restarts before the heartbeat timeout: the worker never turns inactive, the task is gone.
    await a.stop();
    a.start();
    const requeued = await cluster.waitForTask('t-0001', (task) => task.attempt === 2, 'requeued', 3_000);
    assert.match(
      requeued.history.find((entry) => entry.event === 'TaskRequeued')?.reason ?? '',
      /^missing-from-heartbeats/,
    );
    const workerEvents = cluster.worker('a');
    assert.is(workerEvents?.status, 'active', 'the worker itself never went inactive');
    await cluster.waitForTask(
      't-0001',
      (task) => task.status === 'running' && task.attempt === 2,
      'running again',
    );
  });
});

test.run();
