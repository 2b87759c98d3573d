import { setTimeout as sleep } from 'node:timers/promises';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { TaskDocument } from '../../projections/task-document.js';
import { type RunningCli, runCli, spawnCli, workersJson } from '../support/cli.js';
import { TestCluster } from '../support/cluster.js';
import { waitFor } from '../support/nats.js';
import { readTaskEvents, readWorkerStream } from '../support/stream.js';

const TIMEOUT_MS = 2_000;
const WORKER_IDS = ['w1', 'w2', 'w3', 'w4'];
/** Three of four go silent at once: more than 55 % and more than 2, so the fleet doubts its view. */
const FROZEN = ['w2', 'w3', 'w4'];

interface Context {
  cluster: TestCluster;
  env: NodeJS.ProcessEnv;
  workers: Map<string, RunningCli>;
}

const e2e = suite<Context>('disruption mode with the real cloudai binary: many workers silent at once');

e2e.before(async (context) => {
  // Suspect after half the timeout (the cluster's default for tests), so the silent workers
  // are suspect when the first of them times out.
  context.cluster = await TestCluster.start({ heartbeatTimeoutMs: TIMEOUT_MS, heartbeatIntervalMs: 200 });
  context.env = context.cluster.env();
  await context.cluster.startServe(undefined, context.env);
  context.workers = new Map();
  for (const workerId of WORKER_IDS) {
    context.workers.set(
      workerId,
      spawnCli(
        ['worker', '--id', workerId, '--cpu', '4', '--memory', '8', '--task-ms', '120000'],
        context.env,
      ),
    );
  }
  await waitFor(
    async () => (await workersJson(context.env)).filter((worker) => worker.status === 'active').length === 4,
    15_000,
    'four workers active',
  );
});

e2e.after(async (context) => {
  for (const worker of context.workers?.values() ?? []) {
    worker.process.kill('SIGCONT');
    worker.process.kill('SIGKILL');
  }
  await context.cluster?.close();
});

async function tasksJson(context: Context): Promise<TaskDocument[]> {
  const result = await runCli(['tasks', '--json'], context.env);
  assert.is(result.code, 0, result.stderr);
  return JSON.parse(result.stdout) as TaskDocument[];
}

e2e(
  'three of four workers frozen at once: disruption mode, nobody inactive, nothing requeued; `cloudai disruption end` ends it',
  async (context) => {
    for (let i = 0; i < 4; i++) {
      const result = await runCli(['task', 'submit', '--image', 'python:3.12', '--cpu', '1'], context.env);
      assert.match(result.stdout, /^task t-[a-z0-9]+ assigned to w\d\n$/, result.stderr);
    }
    await waitFor(
      async () => (await tasksJson(context)).filter((task) => task.status === 'running').length === 4,
      10_000,
      'four tasks running',
    );
    const onFrozen = (await tasksJson(context)).filter((task) => FROZEN.includes(task.workerId ?? ''));
    assert.ok(onFrozen.length >= 1, 'some task runs on a worker about to freeze');

    // A partition around three workers: their processes (and tasks) live on, unheard.
    for (const workerId of FROZEN) context.workers.get(workerId)?.process.kill('SIGSTOP');
    const nc = await context.cluster.connect('e2e-reader');
    await waitFor(
      async () => (await readWorkerStream(nc)).some(({ event }) => event.type === 'DisruptionStarted'),
      TIMEOUT_MS * 3,
      'DisruptionStarted',
    );
    const status = await runCli(['disruption', 'status'], context.env);
    assert.match(status.stdout, /^disruption mode for \S+: 3 of 4 workers went silent at once\.\n/);

    // Well past another timeout: still nobody inactive and nothing requeued; the frozen are suspect.
    await sleep(TIMEOUT_MS + 500);
    const types = (await readWorkerStream(nc)).map(({ event }) => event.type);
    assert.not.ok(types.includes('WorkerInactive'), types.join(', '));
    assert.equal(
      (await readTaskEvents(nc)).filter(({ event }) => event.type === 'TaskRequeued'),
      [],
    );
    const statuses = Object.fromEntries(
      (await workersJson(context.env)).map((worker) => [worker.workerId, worker.status]),
    );
    assert.equal(statuses, { w1: 'active', w2: 'suspect', w3: 'suspect', w4: 'suspect' });
    for (const task of onFrozen) {
      const now = (await tasksJson(context)).find((candidate) => candidate.taskId === task.taskId);
      assert.equal([now?.status, now?.workerId, now?.attempt], ['running', task.workerId, 1], task.taskId);
    }
    // New tasks are still placed, on the schedulable worker.
    const placed = await runCli(['task', 'submit', '--image', 'x', '--cpu', '1'], context.env);
    assert.match(placed.stdout, /^task t-[a-z0-9]+ assigned to w1\n$/);

    // The operator decides the view was right.
    const ended = await runCli(['disruption', 'end'], context.env);
    assert.equal(ended, {
      code: 0,
      stdout:
        'disruption mode ended: workers still silent are declared inactive now, and their tasks requeued\n',
      stderr: '',
    });
    const stream = (await readWorkerStream(nc)).map(({ event }) => event);
    const endedAt = stream.findIndex((event) => event.type === 'DisruptionEnded');
    assert.ok(endedAt >= 0, 'DisruptionEnded stored');
    assert.equal(stream[endedAt]?.type === 'DisruptionEnded' && stream[endedAt].endedBy, 'operator');
    await waitFor(
      async () =>
        (await workersJson(context.env)).filter((worker) => worker.status === 'inactive').length ===
        FROZEN.length,
      5_000,
      'the frozen workers inactive',
    );
    await waitFor(
      async () => {
        const requeued = (await readTaskEvents(nc)).flatMap(({ event }) =>
          event.type === 'TaskRequeued' ? [`${event.taskId} ${event.reason}`] : [],
        );
        return (
          requeued.sort().join() ===
          onFrozen
            .map((task) => `${task.taskId} worker-inactive`)
            .sort()
            .join()
        );
      },
      5_000,
      'their tasks requeued',
    );
    const after = await runCli(['disruption', 'status'], context.env);
    assert.match(after.stdout, /^no disruption mode: the last one ended \S+ ago, by an operator\n$/);
    const again = await runCli(['disruption', 'end'], context.env);
    assert.equal(again, {
      code: 1,
      stdout: '',
      stderr: 'cloudai: the fleet is not in disruption mode: there is nothing to end\n',
    });
  },
);

e2e.run();
