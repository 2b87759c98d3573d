import { setTimeout as sleep } from 'node:timers/promises';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { TaskDocument } from '../../projections/task-document.js';
import { operatorReplySchema } from '../../streams/contracts/operator-requests.js';
import { workerLeaveSubject } from '../../streams/contracts/subjects.js';
import { connectToNats } from '../../streams/nats/connection.js';
import { readCredentialsFile } from '../../streams/nats/credentials.js';
import { requestJson } from '../../streams/nats/request-reply.js';
import { type AuthorizedServe, startAuthorizedServe } from '../support/authorized-serve.js';
import { type RunningCli, runCli, spawnTestWorker, workersJson } from '../support/cli.js';
import { waitFor } from '../support/nats.js';

const HEARTBEAT_TIMEOUT_MS = 3_000;

interface Context {
  installation: AuthorizedServe<'tessa' | 'kim' | 'ravi'>;
  env: NodeJS.ProcessEnv;
  serve: RunningCli;
  workers: RunningCli[];
}

const e2e = suite<Context>('graceful leave with the real cloudai binary and an authorizing nats-server');

e2e.before(async (context) => {
  context.workers = [];
  context.installation = await startAuthorizedServe({
    prefix: 'leave',
    workerIds: ['tessa', 'kim', 'ravi'],
    heartbeatTimeoutMs: HEARTBEAT_TIMEOUT_MS,
    heartbeatIntervalMs: 300,
    env: { CLOUDAI_ASSIGN_TIMEOUT_MS: '1000' },
  });
  context.env = context.installation.env;
  context.serve = context.installation.serve;
});

e2e.after(async (context) => {
  for (const worker of context.workers) worker.process.kill('SIGKILL');
  await context.installation?.stop();
});

function startWorker(context: Context, workerId: string): RunningCli {
  const worker = spawnTestWorker(workerId, context.env);
  context.workers.push(worker);
  return worker;
}

const statusOf = async (context: Context, workerId: string) =>
  (await workersJson(context.env)).find((worker) => worker.workerId === workerId)?.status;

async function tasksJson(context: Context): Promise<TaskDocument[]> {
  const result = await runCli(['tasks', '--json'], context.env);
  assert.is(result.code, 0, result.stderr);
  return JSON.parse(result.stdout) as TaskDocument[];
}

e2e(
  'Ctrl+C on a worker: left within a second, its task running elsewhere at once, no alert',
  async (context) => {
    const tessa = startWorker(context, 'tessa');
    await waitFor(async () => (await statusOf(context, 'tessa')) === 'active', 15_000, 'tessa active');
    const submitted = await runCli(['task', 'submit', '--image', 'python:3.12', '--cpu', '1'], context.env);
    assert.match(submitted.stdout, /assigned to tessa/, submitted.stderr);
    const taskId = /task (t-[a-z0-9]+)/.exec(submitted.stdout)?.[1] ?? '';
    await waitFor(
      async () =>
        (await tasksJson(context)).some((task) => task.taskId === taskId && task.status === 'running'),
      5_000,
      'the task running on tessa',
    );
    startWorker(context, 'kim');
    await waitFor(async () => (await statusOf(context, 'kim')) === 'active', 15_000, 'kim active');

    const signalledAt = Date.now();
    tessa.process.kill('SIGINT');
    // Each look through `cloudai workers` starts a process: the figure includes that start.
    const toLeft = await waitFor(
      async () => (await statusOf(context, 'tessa')) === 'left',
      10_000,
      'tessa left',
    );
    const recorded = /^(\S+) INFO \[serve\] worker tessa left/m.exec(context.serve.output());
    assert.ok(recorded, context.serve.output());
    const recordedAfter = Date.parse(recorded?.[1] ?? '') - signalledAt;
    assert.ok(recordedAfter < 1_000, `WorkerLeft recorded ${recordedAfter} ms after SIGINT`);
    let moved: TaskDocument | undefined;
    const toRunningElsewhere = await waitFor(
      async () => {
        moved = (await tasksJson(context)).find((task) => task.taskId === taskId);
        return moved?.workerId === 'kim' && moved.status === 'running';
      },
      10_000,
      'the task running on kim',
    );
    const elsewhereAfter = Date.now() - signalledAt;
    // The task's own history says when it moved (each process's clock, on this one host).
    const requeuedAt = moved?.history.find((entry) => entry.event === 'TaskRequeued')?.at ?? Number.NaN;
    const startedAt =
      moved?.history.find((entry) => entry.event === 'TaskStarted' && entry.workerId === 'kim')?.at ??
      Number.NaN;
    assert.ok(requeuedAt - signalledAt < 1_000, `requeued ${requeuedAt - signalledAt} ms after SIGINT`);
    assert.ok(
      startedAt - signalledAt < HEARTBEAT_TIMEOUT_MS,
      `running on kim ${startedAt - signalledAt} ms after SIGINT: before the timeout would have told`,
    );
    assert.equal(await tessa.exited, { code: 0, signal: null }, tessa.output());
    assert.match(tessa.output(), new RegExp(`left the fleet \\(stopped tasks: ${taskId}\\)`));
    process.stdout.write(
      `\n  measured: SIGINT → WorkerLeft stored ${recordedAfter} ms, task requeued ${requeuedAt - signalledAt} ms, ` +
        `started on kim ${startedAt - signalledAt} ms; seen through the CLI (a process start per look): ` +
        `left ${toLeft} ms, running elsewhere ${elsewhereAfter} ms (${toRunningElsewhere} ms after left)\n`,
    );

    const table = await runCli(['workers'], context.env);
    assert.match(table.stdout, /^tessa\s+◌ left\s+no/m);
    assert.match(table.stdout, /1 left/);
    const shown = await runCli(['task', 'show', taskId], context.env);
    assert.match(shown.stdout, /#1 {2}tessa\s+requeued: worker-left/);
    const alerts = await runCli(['alerts', '--json'], context.env);
    assert.not.match(alerts.stdout, /tessa.*inactive|worker-inactive/, 'a leave raises no failure alert');
    // The timeout passing changes nothing: a left worker is not judged by its silence.
    await sleep(HEARTBEAT_TIMEOUT_MS + 300);
    assert.is(await statusOf(context, 'tessa'), 'left');
    assert.not.match(context.serve.output(), /worker tessa is (inactive|suspect)/);
  },
);

e2e('a worker that comes back after leaving is active again', async (context) => {
  startWorker(context, 'tessa');
  await waitFor(async () => (await statusOf(context, 'tessa')) === 'active', 10_000, 'tessa back');
  assert.match(context.serve.output(), /worker tessa is active again/);
});

e2e(
  'a leave cannot be forged: another identity is refused by the server, a spoofed body by the control plane',
  async (context) => {
    const { server, files } = context.installation;
    const kim = await connectToNats({
      url: server.url,
      name: 'kim',
      credentials: readCredentialsFile(files.kim),
    });
    try {
      const forged = await requestJson(
        kim,
        workerLeaveSubject('tessa'),
        { workerId: 'tessa', stoppedAttempts: [] },
        operatorReplySchema,
        1_000,
      );
      assert.is(forged.ok, false);
      assert.is(forged.ok ? '' : forged.failure, 'denied', forged.ok ? '' : forged.detail);
      const spoofed = await requestJson(
        kim,
        workerLeaveSubject('kim'),
        { workerId: 'tessa', stoppedAttempts: [] },
        operatorReplySchema,
        2_000,
      );
      assert.equal(spoofed, {
        ok: true,
        value: { ok: false, error: 'a worker announces only its own leave (this one names tessa)' },
      });
    } finally {
      await kim.close();
    }
    await sleep(300);
    assert.is(await statusOf(context, 'tessa'), 'active');
    assert.is(await statusOf(context, 'kim'), 'active');
  },
);

e2e('kill -9 is still found by the timeout, as a failure', async (context) => {
  const ravi = startWorker(context, 'ravi');
  await waitFor(async () => (await statusOf(context, 'ravi')) === 'active', 15_000, 'ravi active');
  ravi.process.kill('SIGKILL');
  await ravi.exited;
  const stoppedAt = Date.now();
  await waitFor(
    async () => (await statusOf(context, 'ravi')) === 'inactive',
    HEARTBEAT_TIMEOUT_MS + 5_000,
    'ravi inactive',
  );
  // Timed by the control plane's own log line: polling the CLI adds a process start per look.
  const declared = /^(\S+) INFO \[serve\] worker ravi is inactive/m.exec(context.serve.output());
  assert.ok(declared, context.serve.output());
  const after = Date.parse(declared?.[1] ?? '') - stoppedAt;
  assert.ok(after <= HEARTBEAT_TIMEOUT_MS + 1_000, `inactive ${after} ms after the kill`);
  process.stdout.write(`\n  measured (baseline, no leave): kill -9 → WorkerInactive ${after} ms\n`);
});

e2e('a second signal during a slow shutdown exits at once', async (context) => {
  const kim = context.workers.find(
    (worker) => /worker kim/.test(worker.output()) && worker.process.exitCode === null,
  );
  assert.ok(kim, 'kim runs');
  // A frozen control plane answers no leave: the worker waits for its reply.
  context.serve.process.kill('SIGSTOP');
  try {
    kim.process.kill('SIGINT');
    await waitFor(() => /SIGINT: shutting down/.test(kim.output()), 5_000, 'the slow shutdown');
    const again = Date.now();
    kim.process.kill('SIGINT');
    const exit = await kim.exited;
    assert.equal(exit, { code: 130, signal: null }, kim.output());
    assert.ok(Date.now() - again < 1_000, `exited ${Date.now() - again} ms after the second signal`);
    assert.match(kim.output(), /SIGINT again: exiting now/);
  } finally {
    context.serve.process.kill('SIGCONT');
  }
});

e2e.run();
