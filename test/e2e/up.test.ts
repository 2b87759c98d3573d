import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { WorkerDocument } from '../../projections/worker-document.js';
import { runCli, spawnCli } from '../support/cli.js';
import { makeTempDir, waitFor } from '../support/nats.js';

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test('`cloudai up` runs the demo, a stopped worker turns inactive, Ctrl-C leaves no process behind', async () => {
  const dataDir = makeTempDir('up');
  const env = { CLOUDAI_DATA_DIR: dataDir.path };
  const up = spawnCli(['up', '--heartbeat-timeout-ms', '1000', '--heartbeat-interval-ms', '200'], env);
  try {
    await waitFor(
      () => /Ctrl-C here stops everything/.test(up.output()),
      15_000,
      'up to print what to do next',
    );
    const pids = [...up.output().matchAll(/pid (\d+)/g)].map((match) => Number(match[1]));
    assert.is(pids.length, 5, `nats-server, serve and three workers: ${up.output()}`);
    const tessaPid = Number(/worker tessa\s+pid (\d+)/.exec(up.output())?.[1]);
    assert.match(up.output(), /nats:\/\/127\.0\.0\.1:\d+/);

    const workers = async () => {
      const result = await runCli(['workers', '--json'], env);
      return result.code === 0 ? (JSON.parse(result.stdout) as WorkerDocument[]) : [];
    };
    await waitFor(
      async () => (await workers()).filter((worker) => worker.status === 'active').length === 3,
      15_000,
      'three active workers',
    );
    const ids = (await workers()).map((worker) => worker.workerId);
    assert.equal(ids, ['kim', 'ravi', 'tessa']);

    process.kill(tessaPid, 'SIGTERM');
    await waitFor(
      async () => (await workers()).find((worker) => worker.workerId === 'tessa')?.status === 'inactive',
      1_000 + 2_000,
      'tessa inactive',
    );

    up.process.kill('SIGINT');
    const exit = await up.exited;
    assert.equal(exit, { code: 0, signal: null }, up.output());
    for (const pid of pids) assert.not.ok(isRunning(pid), `process ${pid} left behind`);
  } finally {
    up.process.kill('SIGKILL');
    dataDir.remove();
  }
});

test.run();
