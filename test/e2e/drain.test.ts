import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { TaskDocument } from '../../projections/task-document.js';
import { type RunningCli, runCli, spawnTestWorker, workersJson } from '../support/cli.js';
import { TestCluster } from '../support/cluster.js';
import { waitFor } from '../support/nats.js';

interface Context {
  cluster: TestCluster;
  env: NodeJS.ProcessEnv;
  serve: RunningCli;
  workers: RunningCli[];
}

const e2e = suite<Context>(
  'drain with the real cloudai binary: no new tasks, progress, deadline, restart, cancel',
);

e2e.before(async (context) => {
  context.cluster = await TestCluster.start({ heartbeatTimeoutMs: 3_000, heartbeatIntervalMs: 300 });
  context.env = { ...context.cluster.env(), CLOUDAI_ASSIGN_TIMEOUT_MS: '1000' };
  context.serve = await context.cluster.startServe(undefined, context.env);
  context.workers = [];
});

e2e.after(async (context) => {
  for (const worker of context.workers) worker.process.kill('SIGKILL');
  await context.cluster?.close();
});

async function startWorker(context: Context, workerId: string): Promise<void> {
  context.workers.push(spawnTestWorker(workerId, context.env));
  await waitFor(
    async () =>
      (await workersJson(context.env)).some((w) => w.workerId === workerId && w.status === 'active'),
    15_000,
    `${workerId} active`,
  );
}

async function tasksJson(context: Context): Promise<TaskDocument[]> {
  const result = await runCli(['tasks', '--json'], context.env);
  assert.is(result.code, 0, result.stderr);
  return JSON.parse(result.stdout) as TaskDocument[];
}

async function submit(context: Context): Promise<{ taskId: string; workerId: string }> {
  const result = await runCli(['task', 'submit', '--image', 'python:3.12', '--cpu', '1'], context.env);
  const match = /^task (t-[a-z0-9]+) assigned to (\S+)\n$/.exec(result.stdout);
  assert.ok(match, result.stdout + result.stderr);
  return { taskId: match?.[1] ?? '', workerId: match?.[2] ?? '' };
}

const workerOf = async (context: Context, workerId: string) =>
  (await workersJson(context.env)).find((worker) => worker.workerId === workerId);

e2e(
  'a drain: no new tasks, progress as tasks end, at the deadline (after a serve restart) the rest moves',
  async (context) => {
    await startWorker(context, 'tessa');
    const first = await submit(context);
    const second = await submit(context);
    assert.equal([first.workerId, second.workerId], ['tessa', 'tessa']);
    await startWorker(context, 'kim');

    const bad = await runCli(['workers', 'drain', 'tessa', '--deadline', 'soon'], context.env);
    assert.is(bad.code, 1);
    assert.match(bad.stderr, /--deadline "soon" is not a duration up to 24 days: write it like 1h, 30m/);
    const started = await runCli(['workers', 'drain', 'tessa', '--deadline', '12s'], context.env);
    assert.is(started.code, 0, started.stderr);
    assert.match(started.stdout, /^worker tessa draining: no new tasks; those it runs may finish within 12s/);
    const again = await runCli(['workers', 'drain', 'tessa'], context.env);
    assert.match(
      again.stderr,
      /tessa is draining already: `cloudai workers drain tessa --cancel` ends that drain first/,
    );

    const table = await runCli(['workers'], context.env);
    assert.match(table.stdout, /^tessa\s+● active\s+no: draining \(2 tasks, deadline in \d+s\)/m);
    assert.match(table.stdout, /1 schedulable, 1 draining/);
    const onlyDraining = await runCli(['workers', '--status', 'draining', '--json'], context.env);
    assert.equal(
      (JSON.parse(onlyDraining.stdout) as Array<{ workerId: string }>).map((worker) => worker.workerId),
      ['tessa'],
    );
    const stats = await runCli(['workers', 'stats', 'tessa'], context.env);
    assert.match(
      stats.stdout,
      /schedulable\s+no \(draining \(2 tasks, deadline in \d+s\): `cloudai workers drain tessa --cancel` ends it\)/,
    );
    assert.is((await submit(context)).workerId, 'kim', 'no new task for a draining worker');

    // One task ends: progress.
    const cancelled = await runCli(['task', 'cancel', first.taskId], context.env);
    assert.is(cancelled.code, 0, cancelled.stderr);
    await waitFor(
      async () => (await workerOf(context, 'tessa'))?.drain?.remainingTasks === 1,
      5_000,
      'progress',
    );

    // The drain survives a restart of serve; its deadline is re-armed from the log.
    context.serve.process.kill('SIGTERM');
    assert.equal(await context.serve.exited, { code: 0, signal: null }, context.serve.output());
    context.serve = await context.cluster.startServe(undefined, context.env);
    assert.match(context.serve.output(), /took up 1 drains under way/);
    assert.ok((await workerOf(context, 'tessa'))?.drain, 'still draining after the restart');

    await waitFor(
      async () =>
        (await tasksJson(context)).some(
          (task) => task.taskId === second.taskId && task.workerId === 'kim' && task.status === 'running',
        ),
      20_000,
      'the last task moved to kim at the deadline',
    );
    const drained = await workerOf(context, 'tessa');
    assert.is(drained?.drain, null);
    assert.ok(drained?.cordoned, 'a drained worker stays cordoned');
    assert.match(
      context.serve.output(),
      /worker tessa drained at its deadline: 1 tasks stopped and requeued/,
    );
    const shown = await runCli(['task', 'show', second.taskId], context.env);
    assert.match(shown.stdout, /#1 {2}tessa\s+requeued: drain-deadline/);
    const tessa = context.workers[0];
    await waitFor(
      () => /stopping task .*the scheduler no longer wants it here/.test(tessa?.output() ?? ''),
      5_000,
      'stopped on tessa',
    );
    assert.match((await runCli(['workers'], context.env)).stdout, /^tessa\s+● active\s+no: cordoned/m);
  },
);

e2e(
  'a drain of a worker without tasks ends at once; cancel makes a draining one schedulable again',
  async (context) => {
    await startWorker(context, 'ravi');
    const empty = await runCli(['workers', 'drain', 'ravi'], context.env);
    assert.is(empty.code, 0, empty.stderr);
    assert.match(empty.stdout, /may finish within 1h00m/, 'the default deadline is an hour');
    assert.match((await runCli(['workers'], context.env)).stdout, /^ravi\s+● active\s+no: cordoned/m);
    assert.is((await runCli(['workers', 'uncordon', 'ravi'], context.env)).code, 0);

    // kim and tessa are cordoned now: the next task goes to ravi.
    await runCli(['workers', 'cordon', 'kim'], context.env);
    assert.is((await submit(context)).workerId, 'ravi');
    const drain = await runCli(['workers', 'drain', 'ravi', '--deadline', '1h'], context.env);
    assert.is(drain.code, 0, drain.stderr);
    assert.match(
      (await runCli(['workers'], context.env)).stdout,
      /^ravi\s+● active\s+no: draining \(1 task, deadline in 59m5\ds\)/m,
    );
    const cancelled = await runCli(['workers', 'drain', 'ravi', '--cancel'], context.env);
    assert.is(cancelled.code, 0, cancelled.stderr);
    assert.match(cancelled.stdout, /^worker ravi: drain cancelled; it gets new tasks again unless cordoned/);
    assert.ok((await workerOf(context, 'ravi'))?.schedulable);
    const twice = await runCli(['workers', 'drain', 'ravi', '--cancel'], context.env);
    assert.is(twice.code, 1);
    assert.match(twice.stderr, /worker ravi is not draining: there is nothing to cancel/);
  },
);

e2e.run();
