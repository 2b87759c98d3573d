import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { TaskDocument } from '../../projections/task-document.js';
import { type RunningCli, runCli, startActiveWorkers, workersJson } from '../support/cli.js';
import { TestCluster } from '../support/cluster.js';
import { waitFor } from '../support/nats.js';
import { readEventsOf } from '../support/stream.js';

const TIMEOUT_MS = 8_000;
const SUSPECT_AFTER_MS = 1_000;

interface Context {
  cluster: TestCluster;
  env: NodeJS.ProcessEnv;
  workers: Map<string, RunningCli>;
}

const e2e = suite<Context>(
  'grace period: a paused worker is suspect, keeps its task, gets no new one, recovers',
);

e2e.before(async (context) => {
  context.cluster = await TestCluster.start({
    heartbeatTimeoutMs: TIMEOUT_MS,
    heartbeatIntervalMs: 200,
    liveness: { suspectAfterMs: SUSPECT_AFTER_MS },
  });
  context.env = context.cluster.env();
  await context.cluster.startServe(undefined, context.env);
  context.workers = await startActiveWorkers(['kim', 'tessa'], context.env);
});

e2e.after(async (context) => {
  for (const worker of context.workers?.values() ?? []) worker.process.kill('SIGKILL');
  await context.cluster?.close();
});

async function submit(context: Context): Promise<{ taskId: string; workerId: string }> {
  const result = await runCli(['task', 'submit', '--image', 'python:3.12', '--cpu', '1'], context.env);
  assert.is(result.code, 0, result.stderr);
  const match = /^task (t-[a-z0-9]+) assigned to (kim|tessa)\n$/.exec(result.stdout);
  assert.ok(match, result.stdout);
  return { taskId: match?.[1] ?? '', workerId: match?.[2] ?? '' };
}

async function task(context: Context, taskId: string): Promise<TaskDocument> {
  const result = await runCli(['task', 'show', taskId, '--json'], context.env);
  assert.is(result.code, 0, result.stderr);
  return JSON.parse(result.stdout) as TaskDocument;
}

e2e(
  'SIGSTOP: suspect within the grace period; its task stays; new work goes elsewhere; SIGCONT recovers it',
  async (context) => {
    const first = await submit(context);
    const second = await submit(context);
    const onKim = [first, second].find((placed) => placed.workerId === 'kim');
    assert.ok(onKim, 'one of two tasks went to kim');
    await waitFor(
      async () => (await task(context, onKim?.taskId ?? '')).status === 'running',
      10_000,
      'running',
    );

    const kim = context.workers.get('kim');
    kim?.process.kill('SIGSTOP');
    const pausedAt = Date.now();
    await waitFor(
      async () =>
        (await workersJson(context.env)).find((worker) => worker.workerId === 'kim')?.status === 'suspect',
      TIMEOUT_MS / 2,
      'kim suspect',
    );
    const suspectAfter = Date.now() - pausedAt;
    const table = await runCli(['workers'], context.env);
    assert.match(table.stdout, /^kim\s+◐ suspect/m);

    // A suspect worker keeps its task, and the next task goes to tessa.
    const kept = await task(context, onKim?.taskId ?? '');
    assert.equal([kept.status, kept.workerId, kept.attempt], ['running', 'kim', 1]);
    for (let index = 0; index < 2; index++) assert.is((await submit(context)).workerId, 'tessa');
    assert.ok(Date.now() - pausedAt < TIMEOUT_MS, 'all of it happened within the hard timeout');

    kim?.process.kill('SIGCONT');
    await waitFor(
      async () =>
        (await workersJson(context.env)).find((worker) => worker.workerId === 'kim')?.status === 'active',
      5_000,
      'kim active again',
    );
    const events = await readEventsOf(await context.cluster.connect('check'), 'kim');
    assert.equal(
      events.map((event) => [event.type, event.seq]),
      [
        ['WorkerRegistered', 1],
        ['WorkerSuspected', 2],
        ['WorkerRecovered', 3],
      ],
    );
    const after = await task(context, onKim?.taskId ?? '');
    assert.equal([after.status, after.workerId, after.attempt], ['running', 'kim', 1], 'never requeued');
    process.stdout.write(`  (kim suspect ${suspectAfter} ms after SIGSTOP; grace ${SUSPECT_AFTER_MS} ms)\n`);
  },
);

e2e.run();
