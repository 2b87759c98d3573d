import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { TaskDocument } from '../../projections/task-document.js';
import { type RunningCli, runCli, startActiveWorkers } from '../support/cli.js';
import { TestCluster } from '../support/cluster.js';
import { makeTempDir, waitFor } from '../support/nats.js';

interface Context {
  cluster: TestCluster;
  env: NodeJS.ProcessEnv;
  serve: RunningCli;
  workers: Map<string, RunningCli>;
}

const e2e = suite<Context>('tasks with the real cloudai binary: submit, spread, requeue, show, cancel');

e2e.before(async (context) => {
  context.cluster = await TestCluster.start({ heartbeatTimeoutMs: 1_000, heartbeatIntervalMs: 200 });
  context.env = { ...context.cluster.env(), CLOUDAI_ASSIGN_TIMEOUT_MS: '1000' };
  context.serve = await context.cluster.startServe(undefined, context.env);
  // Their tasks run long enough to be still running when a later test stops a worker under them.
  context.workers = await startActiveWorkers(['kim', 'tessa'], context.env);
});

e2e.after(async (context) => {
  for (const worker of context.workers?.values() ?? []) worker.process.kill('SIGKILL');
  await context.cluster?.close();
});

async function tasksJson(context: Context): Promise<TaskDocument[]> {
  const result = await runCli(['tasks', '--json'], context.env);
  assert.is(result.code, 0, result.stderr);
  return JSON.parse(result.stdout) as TaskDocument[];
}

e2e('submitted tasks spread over the active workers', async (context) => {
  const placed: string[] = [];
  for (let i = 0; i < 4; i++) {
    const result = await runCli(['task', 'submit', '--image', 'python:3.12', '--cpu', '1'], context.env);
    assert.is(result.code, 0, result.stderr);
    const match = /^task (t-[a-z0-9]+) assigned to (kim|tessa)\n$/.exec(result.stdout);
    assert.ok(match, result.stdout);
    placed.push(match?.[2] ?? '');
  }
  assert.equal([...new Set(placed)].sort(), ['kim', 'tessa']);
  const table = await runCli(['workers'], context.env);
  assert.match(table.stdout, /^ID\s+STATUS.*ALLOCATED\s+FREE\s+TASKS/m);
  assert.match(table.stdout, /^kim\s+● active.*2c 1G\s+2c 7G\s+2 \(t-/m);
});

e2e(
  '--image is optional, as the help says: a task without one is placed and shown with "-"',
  async (context) => {
    const result = await runCli(['task', 'submit', '--cpu', '0.5', '--memory', '0.5'], context.env);
    assert.is(result.code, 0, result.stderr);
    const taskId = /^task (t-[a-z0-9]+) assigned to (kim|tessa)\n$/.exec(result.stdout)?.[1];
    assert.ok(taskId, result.stdout);
    const task = (await tasksJson(context)).find((candidate) => candidate.taskId === taskId);
    assert.is(task?.image, undefined);
    const shown = await runCli(['task', 'show', taskId ?? ''], context.env);
    assert.match(shown.stdout, /^\s*image\s+-$/m);
    // Its resources go back, so the requeue test below finds room on kim.
    assert.is((await runCli(['task', 'cancel', taskId ?? ''], context.env)).code, 0);
    const help = await runCli(['task', 'submit', '--help']);
    assert.match(help.stdout, /--image <image>\s+container image/);
  },
);

e2e('bad requests get a clear error and change nothing', async (context) => {
  const before = (await tasksJson(context)).length;
  const cases: Array<[string[], RegExp]> = [
    [['--cpu', '-1'], /--cpu must be a number of cores ≥ 0, got -1/],
    [['--type', 'quantum'], /--type "quantum" is not a task type: use one of cpu-light, .*mixed/],
    [['--k', '3'], /--k \(the SLA multiplier\) must be between 1\.5 and 2\.5, got 3/],
    [['--memory', 'lots'], /--memory must be a number of GB ≥ 0, got "lots"/],
    [['--cpu', 'abc'], /--cpu must be a number of cores ≥ 0, got "abc"/],
  ];
  for (const [flags, message] of cases) {
    const result = await runCli(['task', 'submit', '--image', 'x', ...flags], context.env);
    assert.is(result.code, 1, flags.join(' '));
    assert.is(result.stdout, '');
    assert.match(result.stderr, message);
    assert.match(result.stderr, /Nothing was submitted\n$/);
    assert.is(result.stderr.trim().split('\n').length, 1, result.stderr);
  }
  const emptyImage = await runCli(['task', 'submit', '--image', ' '], context.env);
  assert.is(emptyImage.code, 1);
  assert.match(
    emptyImage.stderr,
    /--image is empty: name a container image, e\.g\. python:3\.12, or leave it out/,
  );
  assert.is((await tasksJson(context)).length, before);
  const badStatus = await runCli(['tasks', '--status', 'sleeping'], context.env);
  assert.is(badStatus.code, 1);
  assert.match(
    badStatus.stderr,
    /--status "sleeping" is not a task status: use one of queued, assigned, running/,
  );
});

e2e('a task that fits nowhere says why it waits, and can be cancelled', async (context) => {
  const result = await runCli(['task', 'submit', '--image', 'x', '--memory', '40'], context.env);
  const match =
    /^task (t-[a-z0-9]+) queued: no schedulable worker is large enough for 40 GB memory \(largest: 8 GB memory on kim\)\n$/.exec(
      result.stdout,
    );
  assert.ok(match, result.stdout + result.stderr);
  const taskId = match?.[1] ?? '';
  const cancelled = await runCli(['task', 'cancel', taskId], context.env);
  assert.is(cancelled.stdout, `task ${taskId} cancelled (it was queued)\n`);
  const again = await runCli(['task', 'cancel', taskId], context.env);
  assert.is(again.code, 1);
  assert.is(again.stderr, `cloudai: task ${taskId} is already cancelled: there is nothing to cancel\n`);
  const unknown = await runCli(['task', 'show', 't-unknown'], context.env);
  assert.is(unknown.code, 1);
  assert.match(unknown.stderr, /no task t-unknown in .*: list the tasks with `cloudai tasks`/);
});

e2e('tasks --json lists oldest first, in the order of the table, with --status too', async (context) => {
  const tasks = await tasksJson(context);
  assert.ok(tasks.length >= 5, `${tasks.length} tasks`);
  const table = await runCli(['tasks'], context.env);
  const tableIds = [...table.stdout.matchAll(/^(t-[a-z0-9]+) /gm)].map((match) => match[1]);
  assert.equal(
    tasks.map((task) => task.taskId),
    tableIds,
  );
  const submitted = tasks.map((task) => task.submittedAt);
  assert.equal(
    submitted,
    [...submitted].sort((a, b) => a - b),
  );
  const running = await runCli(['tasks', '--json', '--status', 'running'], context.env);
  const runningIds = (JSON.parse(running.stdout) as TaskDocument[]).map((task) => task.taskId);
  assert.equal(
    runningIds,
    tableIds.filter((id) => runningIds.includes(id as string)),
  );
});

e2e('a --status that matches no task says so, and how many there are in all', async (context) => {
  const total = (await tasksJson(context)).length;
  const result = await runCli(['tasks', '--status', 'failed'], context.env);
  assert.is(result.code, 0, result.stderr);
  assert.is(result.stdout, `no task is failed (${total} tasks in all: \`cloudai tasks\` lists them)\n`);
});

e2e('stopping a worker that runs tasks requeues them onto the other', async (context) => {
  const onTessa = (await tasksJson(context)).filter(
    (task) => task.status === 'running' && task.workerId === 'tessa',
  );
  assert.is(onTessa.length, 2);
  // Killed outright: only the timeout tells (a clean stop is covered by leave.test.ts).
  const tessa = context.workers.get('tessa');
  tessa?.process.kill('SIGKILL');
  assert.equal(await tessa?.exited, { code: null, signal: 'SIGKILL' });
  await waitFor(
    async () => {
      const tasks = await tasksJson(context);
      return onTessa.every((moved) => {
        const task = tasks.find((candidate) => candidate.taskId === moved.taskId);
        return task?.workerId === 'kim' && task.attempt === 2 && task.status === 'running';
      });
    },
    6_000,
    "tessa's tasks running on kim",
  );
  const shown = await runCli(['task', 'show', onTessa[0]?.taskId ?? ''], context.env);
  assert.is(shown.code, 0, shown.stderr);
  assert.match(shown.stdout, /#1 {2}tessa\s+requeued: worker-inactive/);
  assert.match(shown.stdout, /#2 {2}kim\s+running/);
});

e2e('without a scheduler, submit says what to start and submits nothing', async (context) => {
  context.serve.process.kill('SIGTERM');
  assert.equal(await context.serve.exited, { code: 0, signal: null }, context.serve.output());
  const result = await runCli(['task', 'submit', '--image', 'x'], context.env);
  assert.is(result.code, 1);
  assert.match(
    result.stderr,
    /^cloudai: no scheduler answers on NATS at nats:\/\/127\.0\.0\.1:\d+: start the control plane with `cloudai up` or `cloudai serve`; nothing was submitted\n$/,
  );
});

e2e('serve refuses an unknown policy or a broken RTS parameters file, and says why', async (context) => {
  const unknown = await runCli(['serve', '--policy', 'fastest'], context.env);
  assert.is(unknown.code, 1);
  assert.match(unknown.stderr, /--policy "fastest" is not a placement policy: use one of rts, round-robin/);
  const fromEnv = await runCli(['serve'], { ...context.env, CLOUDAI_POLICY: 'fastest' });
  assert.match(fromEnv.stderr, /CLOUDAI_POLICY "fastest" is not a placement policy/);
  const broken = makeTempDir('rts');
  try {
    const file = join(broken.path, 'rts.json');
    writeFileSync(file, '{"Theta": [0.1, ');
    const result = await runCli(['serve', '--rts-params', file], context.env);
    assert.is(result.code, 1);
    assert.match(result.stderr, /RTS parameters file .* is not valid JSON/);
  } finally {
    broken.remove();
  }
});

e2e.run();
