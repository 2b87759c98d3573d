import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { TaskDocument } from '../../projections/task-document.js';
import type { WorkerDocument } from '../../projections/worker-document.js';
import type { SubmitReply } from '../../streams/contracts/task-events.js';
import { InjectedDisruption, type InjectedWorker } from '../support/injected-workers.js';
import { waitFor } from '../support/nats.js';
import { readTaskEvents } from '../support/stream.js';
import { type TaskCluster, withTaskCluster } from '../support/task-cluster.js';

/*
 * The scheduler under every worker state. The test writes the workers' events into
 * WORKER_EVENTS itself (as the fleet would, numbered per worker), so each state is reached
 * exactly when the test says; the workers' agents are real and run what they are given.
 */

const gpuBox = { cpu: 4, memoryGb: 8, storageGb: 100, gpu: 1 };
const small = { cpu: 4, memoryGb: 8, storageGb: 100, gpu: 0 };
/** Long enough that the tasks still run when the test looks at them. */
const LONG_TASK_MS = 20_000;

const outcomeOf = (reply: SubmitReply) => (reply.ok ? reply.outcome : reply.error);

async function requeuesOf(cluster: TaskCluster): Promise<string[]> {
  return (await readTaskEvents(cluster.client)).flatMap(({ event }) =>
    event.type === 'TaskRequeued' ? [`${event.taskId} ${event.reason}`] : [],
  );
}

/** Two 1-cpu tasks running on `worker`, its agent's, as attempt 1. */
async function twoRunningTasksOn(cluster: TaskCluster, workerId: string): Promise<string[]> {
  const taskIds: string[] = [];
  for (let i = 0; i < 2; i++) {
    const reply = await cluster.submit({ cpu: 1 });
    assert.equal(outcomeOf(reply), { kind: 'assigned', workerId });
    if (reply.ok) taskIds.push(reply.taskId);
  }
  for (const taskId of taskIds)
    await cluster.waitForTask(taskId, (task) => task.status === 'running', 'running');
  return taskIds;
}

function assertStillRunning(cluster: TaskCluster, taskIds: readonly string[], workerId: string): void {
  for (const taskId of taskIds) {
    const task = cluster.task(taskId) as TaskDocument;
    assert.equal([task.status, task.workerId, task.attempt], ['running', workerId, 1], taskId);
  }
}

/** Each task runs again, as attempt 2, on `workerId`; the log requeued each once, for `reason`. */
async function assertMovedTo(
  cluster: TaskCluster,
  taskIds: readonly string[],
  workerId: string,
  reason: string,
): Promise<void> {
  for (const taskId of taskIds) {
    const moved = await cluster.waitForTask(
      taskId,
      (task) => task.status === 'running' && task.attempt === 2,
      'running again',
    );
    assert.is(moved.workerId, workerId, taskId);
  }
  assert.equal((await requeuesOf(cluster)).sort(), taskIds.map((taskId) => `${taskId} ${reason}`).sort());
}

interface HeldState {
  name: string;
  hold: (worker: InjectedWorker) => Promise<number>;
  release: (worker: InjectedWorker) => Promise<number>;
  released: string;
  /** What the read model shows while it holds, as the CLI prints it. */
  shows: (document: WorkerDocument) => boolean;
}

const HELD_STATES: HeldState[] = [
  {
    name: 'suspect',
    hold: (worker) => worker.suspect(),
    release: (worker) => worker.recover(),
    released: 'recovered',
    shows: (document) => document.status === 'suspect',
  },
  {
    name: 'cordoned',
    hold: (worker) => worker.cordon(),
    release: (worker) => worker.uncordon(),
    released: 'uncordoned',
    shows: (document) => document.status === 'active' && document.cordoned,
  },
  {
    name: 'flapping',
    hold: (worker) => worker.flapping(),
    release: (worker) => worker.stabilized(),
    released: 'stabilized',
    shows: (document) => document.status === 'active' && document.flapping,
  },
];

for (const state of HELD_STATES) {
  test(`a ${state.name} worker keeps its running tasks and gets no new one; ${state.released}, it gets tasks again`, async () => {
    await withTaskCluster({}, async (cluster) => {
      const kim = await cluster.addInjectedWorker('kim', gpuBox, { taskMs: LONG_TASK_MS });
      const running = await twoRunningTasksOn(cluster, 'kim');

      await cluster.schedulerHas(await state.hold(kim));
      await cluster.addWorker('a', small);
      assert.ok(state.shows(cluster.worker('kim') as WorkerDocument), 'the read model shows the state');

      // A new task goes to the other worker, though kim has room...
      const cpuTask = await cluster.submit({ cpu: 1 });
      assert.equal(outcomeOf(cpuTask), { kind: 'assigned', workerId: 'a' });
      // ...and one only kim could take waits, saying why.
      const gpuTask = await cluster.submit({ gpu: 1 });
      const waiting = outcomeOf(gpuTask);
      assert.equal(waiting, {
        kind: 'queued',
        reason:
          'no schedulable worker is large enough for 1 GPU (largest: 0 GPU on a); ' +
          `kim (${state.name}) has room but takes no new tasks`,
      });
      assertStillRunning(cluster, running, 'kim');
      assert.equal(await requeuesOf(cluster), [], 'nothing was requeued');

      // Released, it gets the waiting task without any other trigger.
      await state.release(kim);
      const placed = await cluster.waitForTask(
        gpuTask.ok ? gpuTask.taskId : '',
        (task) => task.status === 'running',
        'placed on kim',
      );
      assert.is(placed.workerId, 'kim');
      assertStillRunning(cluster, running, 'kim');
      assert.equal(await requeuesOf(cluster), []);
    });
  });
}

test('a removed worker has lost its tasks: they are requeued; when it registers again it gets tasks', async () => {
  await withTaskCluster({}, async (cluster) => {
    const kim = await cluster.addInjectedWorker('kim', gpuBox, { taskMs: LONG_TASK_MS });
    const running = await twoRunningTasksOn(cluster, 'kim');
    await cluster.addWorker('a', small, { taskMs: LONG_TASK_MS });
    await cluster.schedulerHas(await kim.suspect());
    assertStillRunning(cluster, running, 'kim');

    await kim.remove();
    await assertMovedTo(cluster, running, 'a', 'worker-removed');
    assert.is(cluster.worker('kim')?.status, 'removed');
    const gpuTask = await cluster.submit({ gpu: 1 });
    assert.equal(outcomeOf(gpuTask), {
      kind: 'queued',
      reason: 'no schedulable worker is large enough for 1 GPU (largest: 0 GPU on a)',
    });

    // It heartbeats again: registered afresh (its next event number), and schedulable.
    await kim.register();
    const placed = await cluster.waitForTask(
      gpuTask.ok ? gpuTask.taskId : '',
      (task) => task.status === 'running',
      'placed on kim',
    );
    assert.is(placed.workerId, 'kim');
    assert.is(cluster.worker('kim')?.status, 'active');
  });
});

test('in disruption mode an unacknowledged assignment is not requeued; new tasks are still placed; at the end it is offered again', async () => {
  await withTaskCluster({}, async (cluster) => {
    // mute's agent is not listening: a partition between it and the control plane.
    const mute = await cluster.addInjectedWorker('mute', gpuBox, { agent: false, taskMs: LONG_TASK_MS });
    await cluster.addWorker('a', small, { taskMs: LONG_TASK_MS });
    const disruption = new InjectedDisruption(cluster.client);
    await cluster.schedulerHas(await disruption.start(3, 4));

    const gpuTaskId = cluster.nextTaskId();
    const gpuSubmitted = cluster.submit({ gpu: 1 }, gpuTaskId);
    await cluster.waitForTask(gpuTaskId, (task) => task.status === 'assigned', 'assigned to mute');
    await waitFor(() => cluster.controlPlane.scheduler.stats.heldInDisruption === 1, 3_000, 'held');
    // Well past another assignment timeout: still nothing requeued, nothing given up.
    await sleep(cluster.config.assignTimeoutMs + 300);
    assert.equal(await requeuesOf(cluster), []);
    const held = cluster.task(gpuTaskId) as TaskDocument;
    assert.equal([held.status, held.workerId, held.attempt], ['assigned', 'mute', 1]);
    assert.is(cluster.controlPlane.scheduler.stats.notAcknowledged, 0);

    // Placement goes on on schedulable workers.
    const cpuTask = await cluster.submit({ cpu: 1 });
    assert.equal(outcomeOf(cpuTask), { kind: 'assigned', workerId: 'a' });

    // The partition heals; the mode ends: the attempt is offered again and runs where it was.
    mute.startAgent();
    await disruption.end();
    const ran = await cluster.waitForTask(gpuTaskId, (task) => task.status === 'running', 'running on mute');
    assert.equal([ran.workerId, ran.attempt], ['mute', 1]);
    assert.equal(await requeuesOf(cluster), [], 'it was never requeued');
    assert.is(mute.agent?.stats.accepted, 1);
    await gpuSubmitted;
  });
});

test('in disruption mode a worker turned inactive and removed keeps its tasks until the mode ends, then they are requeued', async () => {
  await withTaskCluster({}, async (cluster) => {
    const kim = await cluster.addInjectedWorker('kim', gpuBox, { taskMs: LONG_TASK_MS });
    const running = await twoRunningTasksOn(cluster, 'kim');
    await cluster.addWorker('a', small, { taskMs: LONG_TASK_MS });
    const disruption = new InjectedDisruption(cluster.client);
    await disruption.start(3, 4);
    await kim.suspect();
    await kim.inactive();
    await cluster.schedulerHas(await kim.remove());
    await waitFor(() => cluster.controlPlane.scheduler.stats.heldInDisruption === 2, 3_000, 'both held');
    await sleep(300);
    assert.equal(await requeuesOf(cluster), []);
    assertStillRunning(cluster, running, 'kim');

    await disruption.end();
    await assertMovedTo(cluster, running, 'a', 'worker-removed');
  });
});

/** Restart tests: a long timeout, so the restored fleet changes nothing while the test looks. */
const RESTART_TIMINGS = { heartbeatTimeoutMs: 30_000, suspectAfterMs: 10_000 };
const wide = { cpu: 8, memoryGb: 16, storageGb: 100, gpu: 0 };

/** kim runs t-0001 (1 cpu), gone runs t-0002 (4 cpu), a is idle; then the control plane stops. */
async function restartScenario(cluster: TaskCluster): Promise<{ kim: InjectedWorker; gone: InjectedWorker }> {
  const kim = await cluster.addInjectedWorker('kim', small, { taskMs: LONG_TASK_MS });
  assert.equal(outcomeOf(await cluster.submit({ cpu: 1 })), { kind: 'assigned', workerId: 'kim' });
  const gone = await cluster.addInjectedWorker('gone', small, { taskMs: LONG_TASK_MS });
  assert.equal(outcomeOf(await cluster.submit({ cpu: 4 })), { kind: 'assigned', workerId: 'gone' });
  for (const taskId of ['t-0001', 't-0002']) {
    await cluster.waitForTask(taskId, (task) => task.status === 'running', 'running');
  }
  await cluster.addWorker('a', wide, { taskMs: LONG_TASK_MS });
  await cluster.controlPlane.close();
  return { kim, gone };
}

test('at a restart, tasks on a suspect worker keep running and those on an inactive one are requeued', async () => {
  await withTaskCluster(RESTART_TIMINGS, async (cluster) => {
    const { kim, gone } = await restartScenario(cluster);
    await kim.suspect();
    await gone.inactive();
    await cluster.startControlPlane();

    await assertMovedTo(cluster, ['t-0002'], 'a', 'worker-inactive');
    assertStillRunning(cluster, ['t-0001'], 'kim');
  });
});

test('at a restart in disruption mode, tasks on an inactive worker are held until an operator ends it', async () => {
  await withTaskCluster(RESTART_TIMINGS, async (cluster) => {
    const { gone } = await restartScenario(cluster);
    await new InjectedDisruption(cluster.client).start(2, 3);
    await gone.inactive();
    await cluster.startControlPlane();

    await waitFor(() => cluster.controlPlane.scheduler.stats.heldInDisruption === 1, 3_000, 'held');
    await sleep(300);
    assert.equal(await requeuesOf(cluster), []);
    assertStillRunning(cluster, ['t-0002'], 'gone');
    // Placement goes on.
    assert.equal(outcomeOf(await cluster.submit({ cpu: 1 })), { kind: 'assigned', workerId: 'a' });

    assert.equal(cluster.controlPlane.fleet.endDisruption(), { ok: true });
    await assertMovedTo(cluster, ['t-0002'], 'a', 'worker-inactive');
  });
});

test.run();
