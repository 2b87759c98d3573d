import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { TaskDocument } from '../../projections/task-document.js';
import { type RunningCli, runCli, spawnCli, workersJson } from '../support/cli.js';
import { TestCluster } from '../support/cluster.js';
import { PodmanSandbox, TEST_IMAGE } from '../support/containers.js';
import { waitFor } from '../support/nats.js';

interface Context {
  sandbox: PodmanSandbox;
  cluster: TestCluster;
  env: NodeJS.ProcessEnv;
  worker: RunningCli;
  serve: RunningCli;
}

const STOP_GRACE_MS = 2_000;
const e2e = suite<Context>('tasks in their container image (podman), with the real cloudai binary');

/** A `cloudai worker` running its tasks with podman. */
function startWorker(context: Context, workerId = 'box'): RunningCli {
  return spawnCli(
    ['worker', '--id', workerId, '--cpu', '4', '--memory', '8', '--runtime', 'podman'],
    context.env,
  );
}

async function waitActive(context: Context, workerId: string): Promise<void> {
  await waitFor(
    async () =>
      (await workersJson(context.env)).some((w) => w.workerId === workerId && w.status === 'active'),
    20_000,
    `${workerId} active`,
  );
}

e2e.before(async (context) => {
  const sandbox = await PodmanSandbox.start();
  if (!(sandbox instanceof PodmanSandbox))
    throw new Error(`podman cannot run containers here: ${sandbox.unavailable}`);
  context.sandbox = sandbox;
  context.cluster = await TestCluster.start({ heartbeatTimeoutMs: 5_000, heartbeatIntervalMs: 200 });
  context.env = {
    ...context.cluster.env(),
    ...sandbox.env,
    CLOUDAI_TASK_STOP_GRACE_MS: String(STOP_GRACE_MS),
    CLOUDAI_ASSIGN_TIMEOUT_MS: '2000',
  };
  context.serve = await context.cluster.startServe(undefined, context.env);
  context.worker = startWorker(context);
  await waitActive(context, 'box');
});

e2e.after(async (context) => {
  context.worker?.process.kill('SIGKILL');
  await context.cluster?.close();
  await context.sandbox?.close();
});

function task(context: Context, taskId: string): TaskDocument | undefined {
  return context.cluster.readModel().snapshot((view) => view.getTask(taskId));
}

async function submit(context: Context, command: string, flags: string[] = []): Promise<string> {
  const result = await runCli(
    ['task', 'submit', '--image', TEST_IMAGE, '--command', command, '--memory', '0.1', ...flags],
    context.env,
  );
  assert.is(result.code, 0, result.stderr);
  const match = /^task (t-[a-z0-9]+) (assigned to|queued)/.exec(result.stdout);
  assert.ok(match, result.stdout);
  return match?.[1] ?? '';
}

async function waitForStatus(context: Context, taskId: string, statuses: string[], timeoutMs = 20_000) {
  await waitFor(
    () => statuses.includes(task(context, taskId)?.status ?? ''),
    timeoutMs,
    `task ${taskId} ${statuses.join(' or ')} (it is ${task(context, taskId)?.status})`,
  );
  return task(context, taskId) as TaskDocument;
}

/** A `sleep 600` task, once its container runs. */
async function startSleeping(context: Context): Promise<{ taskId: string; name: string }> {
  const taskId = await submit(context, 'sleep 600');
  await waitForStatus(context, taskId, ['running']);
  const name = `cloudai-box-${taskId}-1`;
  await waitFor(async () => (await context.sandbox.containersOf('box')).includes(name), 20_000, name);
  return { taskId, name };
}

e2e('the worker reports podman as its runtime, and `cloudai workers` shows it', async (context) => {
  const [box] = (await workersJson(context.env)).filter((worker) => worker.workerId === 'box');
  assert.is(box?.capacity.runtime, 'podman');
  const table = await runCli(['workers'], context.env);
  assert.match(table.stdout, /^ID\s+STATUS\s+SCHEDULABLE\s+LAST SEEN\s+ADDRESS\s+RUNTIME/m);
  assert.match(table.stdout, /^box\s+● active\s+yes\s+\S+ ago\s+\S+\s+podman\s/m);
});

e2e(
  'a command that prints and exits 0 completes in its image, and its logs show the lines',
  async (context) => {
    const taskId = await submit(
      context,
      'echo "hello from $(cat /etc/hostname | wc -c) bytes"; echo world; ls /bin/busybox',
    );
    const done = await waitForStatus(context, taskId, ['completed', 'failed']);
    assert.is(done.status, 'completed', JSON.stringify(done.history));
    const logs = await runCli(['task', 'logs', taskId], context.env);
    assert.is(logs.code, 0, logs.stderr);
    assert.match(logs.stdout, /^hello from \d+ bytes\nworld\n\/bin\/busybox\n$/);
    assert.match(logs.stderr, /attempt 1 on box/);
    assert.equal(await context.sandbox.containersOf('box'), [], 'the container is removed');
  },
);

e2e('exit 3 fails the task with exit code 3, shown by `cloudai task show`', async (context) => {
  const taskId = await submit(context, 'echo "disk full" >&2; exit 3');
  const failed = await waitForStatus(context, taskId, ['completed', 'failed']);
  assert.is(failed.status, 'failed');
  assert.is(failed.exitCode, 3);
  assert.is(failed.failure, 'exit-code');
  const shown = await runCli(['task', 'show', taskId], context.env);
  assert.match(shown.stdout, /exit code\s+3/);
  assert.match(shown.stdout, /failure\s+exit-code/);
  assert.match(shown.stdout, /exit code 3; last error output: disk full/);
});

e2e('a task over its memory limit fails as out of memory', async (context) => {
  const taskId = await submit(context, 'echo start; x=a; while true; do x="$x$x"; done', [
    '--memory',
    '0.03',
  ]);
  const failed = await waitForStatus(context, taskId, ['completed', 'failed'], 30_000);
  assert.is(failed.status, 'failed');
  assert.is(failed.failure, 'out-of-memory', JSON.stringify(failed.history.at(-1)));
  assert.match(failed.history.at(-1)?.reason ?? '', /out of memory: .*31 MiB/);
});

e2e('bad input fails that task clearly, and the worker goes on', async (context) => {
  const invalid = await runCli(
    ['task', 'submit', '--image', 'Not A/Valid:Ref!', '--command', 'true', '--memory', '0.1'],
    context.env,
  );
  const invalidId = /task (t-[a-z0-9]+)/.exec(invalid.stdout)?.[1] ?? '';
  const missing = await runCli(
    ['task', 'submit', '--image', 'localhost/cloudai-missing:1', '--command', 'true', '--memory', '0.1'],
    context.env,
  );
  const missingId = /task (t-[a-z0-9]+)/.exec(missing.stdout)?.[1] ?? '';
  const tooSmall = await submit(context, 'true', ['--memory', '0.0005']);
  const bad = await waitForStatus(context, invalidId, ['failed', 'completed']);
  assert.is(bad.failure, 'invalid-image');
  assert.match(bad.history.at(-1)?.reason ?? '', /is not a valid image reference/);
  const gone = await waitForStatus(context, missingId, ['failed', 'completed'], 30_000);
  assert.is(gone.failure, 'image-missing', gone.history.at(-1)?.reason);
  assert.match(gone.history.at(-1)?.reason ?? '', /image localhost\/cloudai-missing:1 is not available/);
  const refused = await waitForStatus(context, tooSmall, ['failed', 'completed']);
  assert.is(refused.status, 'failed');
  assert.ok(
    refused.failure === 'command-rejected' || refused.failure === 'runtime-error',
    `${refused.failure}: ${refused.history.at(-1)?.reason}`,
  );
  assert.match(refused.history.at(-1)?.reason ?? '', /memory/);
  const after = await submit(context, 'echo still here');
  assert.is((await waitForStatus(context, after, ['completed', 'failed'])).status, 'completed');
});

e2e('the runtime vanishing mid-run fails that task, and the worker goes on', async (context) => {
  const taskId = await submit(context, 'echo up; sleep 600');
  await waitForStatus(context, taskId, ['running']);
  const name = `cloudai-box-${taskId}-1`;
  await waitFor(async () => (await context.sandbox.containersOf('box')).includes(name), 20_000, name);
  // The `podman run` the worker started for this task: it dies as if podman had gone away.
  const { stdout } = await import('node:child_process').then(({ execFileSync }) => ({
    stdout: execFileSync('ps', ['-eo', 'pid=,args=']).toString(),
  }));
  const client = stdout
    .split('\n')
    .find((line) => line.includes('podman run') && line.includes(`--name ${name}`));
  assert.ok(client, 'the podman run process of the task');
  process.kill(Number(client?.trim().split(/\s+/)[0]), 'SIGKILL');
  const failed = await waitForStatus(context, taskId, ['failed', 'completed']);
  assert.is(failed.failure, 'runtime-error');
  assert.match(failed.history.at(-1)?.reason ?? '', /ended by SIGKILL/);
  await waitFor(
    async () => !(await context.sandbox.containersOf('box')).includes(name),
    20_000,
    `${name} removed`,
  );
  const after = await submit(context, 'echo still here');
  assert.is((await waitForStatus(context, after, ['completed', 'failed'])).status, 'completed');
});

e2e('a cancelled `sleep 600` container is gone within the grace', async (context) => {
  const { taskId, name } = await startSleeping(context);
  const cancel = await runCli(['task', 'cancel', taskId], context.env);
  assert.is(cancel.code, 0, cancel.stderr);
  const cancelledAt = Date.now();
  await waitFor(
    async () => !(await context.sandbox.containersOf('box')).includes(name),
    15_000,
    `${name} gone`,
  );
  const tookMs = Date.now() - cancelledAt;
  // sleep as PID 1 ignores SIGTERM: SIGKILL comes after the grace; a second of slack for podman itself.
  assert.ok(tookMs < STOP_GRACE_MS + 1_000, `gone after ${tookMs} ms`);
  assert.is(task(context, taskId)?.status, 'cancelled');
});

e2e('--follow shows lines as they are printed and ends when the task ends', async (context) => {
  const taskId = await submit(context, 'for i in 1 2 3; do echo line$i; sleep 1; done');
  const follow = spawnCli(['task', 'logs', taskId, '--follow'], context.env);
  await waitFor(() => follow.output().includes('line1'), 20_000, 'line1 followed');
  assert.not.ok(follow.output().includes('line3'), 'line1 arrived before the task printed line3');
  assert.is(task(context, taskId)?.status, 'running');
  const exit = await follow.exited;
  assert.is(exit.code, 0, follow.output());
  assert.is(task(context, taskId)?.status, 'completed');
  assert.match(follow.output(), /line1\nline2\nline3\n/);
});

e2e('a task that prints 50 MB keeps its last MiB, and its worker keeps beating', async (context) => {
  const before = (await workersJson(context.env)).find((worker) => worker.workerId === 'box');
  const taskId = await submit(context, 'yes 0123456789abcdef | head -c 49999992; echo THE-END');
  const done = await waitForStatus(context, taskId, ['completed', 'failed'], 60_000);
  assert.is(done.status, 'completed', done.history.at(-1)?.reason);
  const logs = await runCli(['task', 'logs', taskId], context.env);
  assert.is(logs.code, 0, logs.stderr);
  assert.ok(logs.stdout.endsWith('0123456789abcdef\nTHE-END\n'), logs.stdout.slice(-100));
  const mib = 1024 * 1024;
  assert.ok(logs.stdout.length >= mib - 17 && logs.stdout.length <= 1.5 * mib, `${logs.stdout.length} bytes`);
  assert.match(logs.stderr, /\[… \d+ bytes of output not kept …\]/);
  const after = (await workersJson(context.env)).find((worker) => worker.workerId === 'box');
  assert.is(after?.status, 'active');
  assert.is(after?.statusSince, before?.statusSince, 'never suspect or inactive meanwhile');
});

e2e('a worker that leaves stops its containers', async (context) => {
  const { taskId, name } = await startSleeping(context);
  const stoppedAt = Date.now();
  context.worker.process.kill('SIGTERM');
  const exit = await context.worker.exited;
  assert.is(exit.code, 0, context.worker.output());
  assert.equal(await context.sandbox.containersOf('box'), [], `${name} outlived its worker`);
  assert.ok(Date.now() - stoppedAt < STOP_GRACE_MS + 3_000, `left after ${Date.now() - stoppedAt} ms`);
  context.worker = startWorker(context);
  await waitActive(context, 'box');
  // Its task was placed again (perhaps on the same worker): cancelled, it leaves no container.
  await runCli(['task', 'cancel', taskId], context.env);
  await waitFor(
    async () => (await context.sandbox.containersOf('box')).length === 0,
    20_000,
    'no containers',
  );
});

e2e(
  'a worker killed with -9 under a running container finds it at restart: removed, attempt lost',
  async (context) => {
    const { taskId, name } = await startSleeping(context);
    context.worker.process.kill('SIGKILL');
    await context.worker.exited;
    assert.ok(
      (await context.sandbox.containersOf('box')).includes(name),
      'the container outlived its worker',
    );
    context.worker = startWorker(context);
    await waitFor(
      async () => !(await context.sandbox.containersOf('box')).includes(name),
      20_000,
      `${name} removed`,
    );
    await waitFor(() => (task(context, taskId)?.attempt ?? 1) > 1, 20_000, `attempt 1 of ${taskId} given up`);
    const requeue = task(context, taskId)?.history.find(
      (entry) => entry.event === 'TaskRequeued' && entry.attempt === 1,
    );
    assert.match(
      requeue?.reason ?? '',
      /lost-by-worker: podman container cloudai-box-.* was left running/,
      `${JSON.stringify(task(context, taskId)?.history)}\n${context.worker.output()}`,
    );
    await waitFor(
      () => /removed 1 task container\(s\) left behind/.test(context.worker.output()),
      5_000,
      'the worker to say what it removed',
    ).catch((error: Error) => assert.unreachable(`${error.message}; it said:\n${context.worker.output()}`));
    await runCli(['task', 'cancel', taskId], context.env);
    await waitFor(
      async () => (await context.sandbox.containersOf('box')).length === 0,
      20_000,
      'no containers left',
    );
  },
);

e2e('a process worker gets no command task unless serve allows host tasks', async (context) => {
  const host = spawnCli(
    ['worker', '--id', 'host', '--cpu', '64', '--memory', '64', '--runtime', 'process'],
    context.env,
  );
  try {
    await waitActive(context, 'host');
    const table = await runCli(['workers'], context.env);
    assert.match(table.stdout, /^host\s+● active\s+yes\s+\S+ ago\s+\S+\s+process\s/m);
    // Only `host` is large enough.
    const submitted = await runCli(
      ['task', 'submit', '--image', TEST_IMAGE, '--command', 'echo "on $(hostname)"', '--cpu', '32'],
      context.env,
    );
    assert.match(
      submitted.stdout,
      /queued: .*; host runs tasks on the host \(runtime process\) \(.*--allow-host-tasks/,
    );
    const taskId = /task (t-[a-z0-9]+)/.exec(submitted.stdout)?.[1] ?? '';
    context.serve.process.kill('SIGTERM');
    await context.serve.exited;
    context.serve = await context.cluster.startServe(undefined, {
      ...context.env,
      CLOUDAI_ALLOW_HOST_TASKS: '1',
    });
    const done = await waitForStatus(context, taskId, ['completed', 'failed']);
    assert.is(done.status, 'completed', done.history.at(-1)?.reason);
    assert.is(done.workerId, 'host');
    const logs = await runCli(['task', 'logs', taskId], context.env);
    assert.match(logs.stdout, /^on \S+\n$/);
  } finally {
    host.process.kill('SIGKILL');
  }
});

e2e.run();
