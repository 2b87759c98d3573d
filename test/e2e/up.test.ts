import { createServer, type Server } from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type RunningCli, runCli, spawnCli, workersJson } from '../support/cli.js';
import { makeTempDir, waitFor } from '../support/nats.js';

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Starts `cloudai up` and returns it with the pids it printed (nats-server first). */
async function startUp(
  env: NodeJS.ProcessEnv,
): Promise<{ up: RunningCli; pids: number[]; pidOf: (name: string) => number }> {
  const up = spawnCli(['up', '--heartbeat-timeout-ms', '1000', '--heartbeat-interval-ms', '200'], env);
  await waitFor(
    () => /Ctrl-C here stops everything/.test(up.output()) || up.process.exitCode !== null,
    30_000,
    'up',
  );
  assert.is(up.process.exitCode, null, up.output());
  const pids = [...up.output().matchAll(/pid (\d+)/g)].map((match) => Number(match[1]));
  const pidOf = (name: string) => Number(new RegExp(`${name}\\s+pid (\\d+)`).exec(up.output())?.[1]);
  return { up, pids, pidOf };
}

/** Holds port 4222 for the test unless something (another NATS server) already does. */
async function occupyDefaultPort(): Promise<Server | undefined> {
  const holder = createServer();
  return new Promise((resolve) => {
    holder.once('error', () => resolve(undefined));
    holder.listen(4222, '127.0.0.1', () => resolve(holder));
  });
}

test('`cloudai up` runs the demo, a stopped worker leaves, a killed one turns inactive, Ctrl-C leaves no process behind', async () => {
  const dataDir = makeTempDir('up');
  const env = { CLOUDAI_DATA_DIR: dataDir.path };
  const holder = await occupyDefaultPort();
  const { up, pids, pidOf } = await startUp(env);
  try {
    // 4222 is taken (by the test, or by a NATS server already running): up says so and moves on.
    assert.match(up.output(), /port 4222 is taken .*: using a free port instead/);
    assert.not.match(up.output(), /nats:\/\/127\.0\.0\.1:4222\b/);
    assert.is(pids.length, 5, `nats-server, serve and three workers: ${up.output()}`);
    assert.match(up.output(), /nats:\/\/127\.0\.0\.1:\d+/);

    const workers = () => workersJson(env);
    await waitFor(
      async () => (await workers()).filter((worker) => worker.status === 'active').length === 3,
      15_000,
      'three active workers',
    );
    const ids = (await workers()).map((worker) => worker.workerId);
    assert.equal(ids, ['kim', 'ravi', 'tessa']);

    // `kill PID`, as `up` suggests: the worker leaves, and shows so at once.
    process.kill(pidOf('worker tessa'), 'SIGTERM');
    await waitFor(
      async () => (await workers()).find((worker) => worker.workerId === 'tessa')?.status === 'left',
      1_000 + 2_000,
      'tessa left',
    );
    // `kill -9 PID`: a crash, found by the timeout.
    process.kill(pidOf('worker kim'), 'SIGKILL');
    await waitFor(
      async () => (await workers()).find((worker) => worker.workerId === 'kim')?.status === 'inactive',
      1_000 + 2_000,
      'kim inactive',
    );

    up.process.kill('SIGINT');
    const exit = await up.exited;
    assert.equal(exit, { code: 0, signal: null }, up.output());
    for (const pid of pids) assert.not.ok(isRunning(pid), `process ${pid} left behind`);
  } finally {
    up.process.kill('SIGKILL');
    holder?.close();
    dataDir.remove();
  }
});

test('without nats-server, `cloudai up` says how to install it and exits 1', async () => {
  const dataDir = makeTempDir('up-nobin');
  try {
    const result = await runCli(['up'], {
      CLOUDAI_DATA_DIR: dataDir.path,
      NATS_SERVER_BIN: '/nonexistent/nats-server',
    });
    assert.is(result.code, 1);
    assert.match(
      result.stderr,
      /nats-server not found on PATH: install it with `apt-get install nats-server`/,
    );
  } finally {
    dataDir.remove();
  }
});

test('`cloudai up` killed outright: its children exit by themselves, and the next up clears the old server', async () => {
  const dataDir = makeTempDir('up-kill');
  const env = { CLOUDAI_DATA_DIR: dataDir.path };
  const first = await startUp(env);
  let second: Awaited<ReturnType<typeof startUp>> | undefined;
  try {
    first.up.process.kill('SIGKILL');
    await first.up.exited;
    const children = first.pids.slice(1);
    await waitFor(
      () => children.every((pid) => !isRunning(pid)),
      10_000,
      'serve and workers to exit with their parent',
    );
    const oldServer = first.pids[0] as number;
    assert.ok(isRunning(oldServer), 'nats-server cannot watch its parent');

    second = await startUp(env);
    assert.match(second.up.output(), new RegExp(`stopping nats-server pid ${oldServer}, left running`));
    assert.not.ok(isRunning(oldServer));
    second.up.process.kill('SIGTERM');
    assert.equal(await second.up.exited, { code: 0, signal: null });
    for (const pid of second.pids) assert.not.ok(isRunning(pid), `process ${pid} left behind`);
  } finally {
    for (const pid of [...first.pids, ...(second?.pids ?? [])])
      if (isRunning(pid)) process.kill(pid, 'SIGKILL');
    dataDir.remove();
  }
});

test.run();
