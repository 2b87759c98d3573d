import { readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { haControlPlaneDir } from '../../cli/config.js';
import { runningUpPath } from '../../cli/running-up.js';
import { runCli, spawnCli, workersJson } from '../support/cli.js';
import { makeTempDir, waitFor } from '../support/nats.js';

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test('`cloudai up --ha`: three servers, three control planes; a killed serve and a killed nats-server leave the demo running', async () => {
  const dataDir = makeTempDir('up-ha');
  const env = { CLOUDAI_DATA_DIR: dataDir.path, NATS_URL: undefined };
  const up = spawnCli(
    ['up', '--ha', '--nats-port', '0', '--heartbeat-timeout-ms', '2000', '--heartbeat-interval-ms', '200'],
    env,
  );
  const pids: number[] = [];
  try {
    await waitFor(
      () => /Ctrl-C here stops everything/.test(up.output()) || up.process.exitCode !== null,
      90_000,
      'up --ha',
    );
    assert.is(up.process.exitCode, null, up.output());
    const output = up.output();
    pids.push(...[...output.matchAll(/pid (\d+)/g)].map((match) => Number(match[1])));
    const pidOf = (name: string) => Number(new RegExp(`${name}\\s+pid (\\d+)`).exec(output)?.[1]);
    const urls = [1, 2, 3].map(
      (n) => new RegExp(`nats-server ${n}\\s+pid \\d+\\s+(nats://\\S+)`).exec(output)?.[1],
    );
    assert.ok(
      urls.every((url) => url !== undefined),
      output,
    );
    assert.is(new Set(pids).size, 9, `three nats-servers, three serves, three workers: ${output}`);
    // Commands on the data dir join all three servers.
    assert.is(JSON.parse(readFileSync(runningUpPath(dataDir.path), 'utf8')).natsUrl, urls.join(','));

    const readModelOf = (n: number) => ({ CLOUDAI_DATA_DIR: haControlPlaneDir(dataDir.path, n) });
    const allActive = async (n: number) =>
      (await workersJson(readModelOf(n))).filter((worker) => worker.status === 'active').length === 3;
    await waitFor(() => allActive(1), 15_000, 'three active workers in control plane 1');

    process.kill(pidOf('serve 1'), 'SIGKILL');
    process.kill(pidOf('nats-server 2'), 'SIGKILL');
    await waitFor(
      () =>
        /serve 1 \(pid \d+\) exited/.test(up.output()) &&
        /nats-server 2 \(pid \d+\) exited/.test(up.output()),
      10_000,
      'up to report both exits',
    );
    assert.match(up.output(), /nats-server 2 \(pid \d+\) exited \(SIGKILL\).*To bring it back: cd /);
    assert.is(up.process.exitCode, null, 'up keeps running');

    // The demo goes on: a task is placed, and the workers stay active in another control plane's view.
    // If serve 1 held the scheduler, nobody answers until its lease expires and another takes it.
    let submitted = await runCli(['task', 'submit', '--cpu', '1'], env, 30_000);
    await waitFor(
      async () => {
        if (submitted.code !== 0 && /no scheduler answers/.test(submitted.stderr)) {
          submitted = await runCli(['task', 'submit', '--cpu', '1'], env, 30_000);
        }
        return submitted.code === 0;
      },
      30_000,
      `a submission accepted (last: ${submitted.stderr})`,
    );
    // While JetStream elects new leaders the reply may come before the placement.
    const taskId = /^task (t-[a-z0-9]+) (assigned to (tessa|kim|ravi)|queued)/.exec(submitted.stdout)?.[1];
    assert.ok(taskId, submitted.stdout);
    await waitFor(
      async () => {
        const shown = await runCli(['task', 'show', taskId as string, '--json'], readModelOf(2));
        return (
          shown.code === 0 && ['assigned', 'running', 'completed'].includes(JSON.parse(shown.stdout).status)
        );
      },
      15_000,
      `${taskId} placed, as control plane 2 sees it`,
    );
    await waitFor(() => allActive(2), 10_000, 'three active workers in control plane 2');

    up.process.kill('SIGINT');
    assert.equal(await up.exited, { code: 0, signal: null }, up.output());
    for (const pid of pids) assert.not.ok(isRunning(pid), `process ${pid} left behind`);
  } finally {
    up.process.kill('SIGKILL');
    for (const pid of pids) if (isRunning(pid)) process.kill(pid, 'SIGKILL');
    dataDir.remove();
  }
});

test.run();
