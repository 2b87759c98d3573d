import type { NatsConnection } from '@nats-io/transport-node';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { type RunningCli, runCli, spawnTestWorker, startActiveWorkers, workersJson } from '../support/cli.js';
import { TestCluster } from '../support/cluster.js';
import { waitFor } from '../support/nats.js';
import { readWorkerEvents } from '../support/stream.js';

interface Context {
  cluster: TestCluster;
  env: NodeJS.ProcessEnv;
  serve: RunningCli;
  workers: Map<string, RunningCli>;
  nc: NatsConnection;
}

const e2e = suite<Context>(
  'operator controls with the real cloudai binary: cordon, uncordon, remove, disruption end',
);

const startWorker = (context: Context, workerId: string) =>
  context.workers.set(workerId, spawnTestWorker(workerId, context.env));

const workerDocument = async (context: Context, workerId: string) =>
  (await workersJson(context.env)).find((worker) => worker.workerId === workerId);

/** Runs `cloudai ARGS` and checks its exit code and everything it prints. */
async function assertCliSays(
  context: Context,
  args: string[],
  expected: { code: number; stdout?: string; stderr?: string },
): Promise<void> {
  const { code, stdout = '', stderr = '' } = expected;
  assert.equal(await runCli(args, context.env), { code, stdout, stderr }, args.join(' '));
}

async function submitOneCpu(context: Context, cpu = 1): Promise<string> {
  const result = await runCli(
    ['task', 'submit', '--image', 'python:3.12', '--cpu', String(cpu)],
    context.env,
  );
  assert.is(result.code, 0, result.stderr);
  const match = /^task t-[a-z0-9]+ assigned to (kim|tessa)\n$/.exec(result.stdout);
  assert.ok(match, result.stdout);
  return match?.[1] ?? '';
}

e2e.before(async (context) => {
  context.cluster = await TestCluster.start({ heartbeatTimeoutMs: 1_000, heartbeatIntervalMs: 200 });
  context.env = context.cluster.env();
  context.serve = await context.cluster.startServe(undefined, context.env);
  context.nc = await context.cluster.connect('e2e-reader');
  context.workers = await startActiveWorkers(['kim', 'tessa'], context.env);
});

e2e.after(async (context) => {
  for (const worker of context.workers?.values() ?? []) worker.process.kill('SIGKILL');
  await context.cluster?.close();
});

e2e('cordon: the read model shows it at once, and new tasks go to the other worker', async (context) => {
  await assertCliSays(context, ['workers', 'cordon', 'kim'], {
    code: 0,
    stdout:
      'worker kim cordoned: it gets no new tasks and keeps those it runs; `cloudai workers uncordon kim` undoes it\n',
  });
  assert.is((await workerDocument(context, 'kim'))?.cordoned, true);
  assert.is((await workerDocument(context, 'kim'))?.status, 'active');
  assert.equal([await submitOneCpu(context), await submitOneCpu(context)], ['tessa', 'tessa']);
  // Only kim has 3 cpu free now: the task waits, and says who could take it.
  const waiting = await runCli(['task', 'submit', '--image', 'x', '--cpu', '3'], context.env);
  assert.match(
    waiting.stdout,
    /^task t-[a-z0-9]+ queued: no schedulable worker has 3 cpu free \(most free: 2 cpu on tessa\); kim \(cordoned\) has room but takes no new tasks\n$/,
  );
});

e2e('uncordon: it gets tasks again (the waiting task first)', async (context) => {
  await assertCliSays(context, ['workers', 'uncordon', 'kim'], {
    code: 0,
    stdout: 'worker kim uncordoned: it gets new tasks again while it is active\n',
  });
  assert.is((await workerDocument(context, 'kim'))?.cordoned, false);
  await waitFor(
    async () => (await workerDocument(context, 'kim'))?.taskIds.length === 1,
    5_000,
    'the waiting 3-cpu task placed on kim',
  );
});

e2e(
  'refusals: an unknown id, removing an active worker, ending a disruption there is none of',
  async (context) => {
    const cases: Array<[string[], string]> = [
      [
        ['workers', 'cordon', 'ghost'],
        'cloudai: worker ghost is not known: list the workers with `cloudai workers`\n',
      ],
      [
        ['workers', 'uncordon', 'ghost'],
        'cloudai: worker ghost is not known: list the workers with `cloudai workers`\n',
      ],
      [
        ['workers', 'remove', 'kim'],
        'cloudai: worker kim is active: only an inactive or left worker can be removed (an active one would register again ' +
          'at its next heartbeat); stop it, wait until `cloudai workers` shows it left or inactive, and retry\n',
      ],
      [['disruption', 'end'], 'cloudai: the fleet is not in disruption mode: there is nothing to end\n'],
      [
        ['workers', 'cordon', 'no/such'],
        'cloudai: worker id "no/such" is invalid: use 1–64 characters of A–Z, a–z, 0–9, _ and -; list the workers with `cloudai workers`\n',
      ],
    ];
    for (const [args, stderr] of cases) await assertCliSays(context, args, { code: 1, stderr });
    await assertCliSays(context, ['disruption', 'status'], {
      code: 0,
      stdout: 'no disruption mode: there has been none\n',
    });
    assert.is((await workerDocument(context, 'kim'))?.status, 'active', 'nothing changed');
  },
);

e2e(
  'remove: an inactive worker is marked removed; when it heartbeats again it registers afresh',
  async (context) => {
    // Killed outright, so that its silence makes it inactive (a clean stop would make it left).
    const kim = context.workers.get('kim');
    kim?.process.kill('SIGKILL');
    await kim?.exited;
    await waitFor(
      async () => (await workerDocument(context, 'kim'))?.status === 'inactive',
      5_000,
      'kim inactive',
    );
    await assertCliSays(context, ['workers', 'remove', 'kim'], {
      code: 0,
      stdout: 'worker kim removed: it is forgotten; if it heartbeats again it registers afresh\n',
    });
    assert.is(context.cluster.statusOf('kim'), 'removed', 'the read model marks it removed');
    const listed = await workerDocument(context, 'kim');
    assert.ok(
      listed === undefined || listed.status === 'removed',
      '`workers --json` hides it or marks it removed',
    );
    await assertCliSays(context, ['workers', 'remove', 'kim'], {
      code: 1,
      stderr: 'cloudai: worker kim was removed: list the workers with `cloudai workers --all`\n',
    });

    startWorker(context, 'kim');
    await waitFor(
      async () => (await workerDocument(context, 'kim'))?.status === 'active',
      10_000,
      'kim back',
    );
    const events = (await readWorkerEvents(context.nc)).filter(({ event }) => event.workerId === 'kim');
    assert.equal(
      events.map(({ event }) => event.seq),
      events.map((_, index) => index + 1),
      'one numbering across the removal',
    );
    assert.equal(
      events.slice(-2).map(({ event }) => event.type),
      ['WorkerRemoved', 'WorkerRegistered'],
    );
    assert.is((await workerDocument(context, 'kim'))?.cordoned, false);
  },
);

e2e('without a control plane, the commands say what to start and change nothing', async (context) => {
  context.serve.process.kill('SIGTERM');
  assert.equal(await context.serve.exited, { code: 0, signal: null }, context.serve.output());
  const result = await runCli(['workers', 'cordon', 'tessa'], context.env);
  assert.is(result.code, 1);
  assert.match(
    result.stderr,
    /^cloudai: no control plane answers on NATS at nats:\/\/127\.0\.0\.1:\d+: start the control plane with `cloudai up` or `cloudai serve`; nothing was cordoned\n$/,
  );
  const end = await runCli(['disruption', 'end'], context.env);
  assert.match(end.stderr, /; disruption mode was not ended\n$/);
  assert.is((await workerDocument(context, 'tessa'))?.cordoned, false);
});

e2e.run();
