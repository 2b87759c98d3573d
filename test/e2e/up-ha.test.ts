import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { haControlPlaneDir } from '../../cli/config.js';
import { findRunningUp } from '../../cli/running-up.js';
import { runCli, workersJson } from '../support/cli.js';
import { makeTempDir, waitFor } from '../support/nats.js';
import { assertStopsCleanly, type StartedUp, startUp } from '../support/up.js';

test('`cloudai up --ha`: three servers, three control planes; a killed serve and a killed nats-server leave the demo running', async () => {
  const dataDir = makeTempDir('up-ha');
  const env = { CLOUDAI_DATA_DIR: dataDir.path, NATS_URL: undefined };
  let started: StartedUp | undefined;
  try {
    started = await startUp({
      env,
      flags: ['--ha', '--nats-port', '0', '--heartbeat-timeout-ms', '2000', '--heartbeat-interval-ms', '200'],
      // Three servers and three control planes take longer to start than one of each.
      readyTimeoutMs: 90_000,
    });
    const { up, pids, pidOf, urlOf } = started;
    const output = up.output();
    const urls = [1, 2, 3].map((n) => urlOf(`nats-server ${n}`));
    assert.ok(
      urls.every((url) => url !== undefined),
      output,
    );
    assert.is(new Set(pids).size, 9, `three nats-servers, three serves, three workers: ${output}`);
    // Commands on the data dir join all three servers.
    assert.is(findRunningUp(dataDir.path)?.natsUrl, urls.join(','));

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

    // A command given the dead server first moves on to a live one; the status shows the cluster.
    const deadFirst = [urls[1], urls[0], urls[2]].join(',');
    // It waits while the streams the dead server led elect new leaders (up to 30 s).
    const status = await runCli(['cluster', 'status', '--json'], { ...env, NATS_URL: deadFirst }, 40_000);
    assert.is(status.code, 0, status.stderr);
    const cluster = JSON.parse(status.stdout) as {
      controlPlanes: Array<{ partitions: unknown[] }>;
      streams: Array<{ stream: string; replicas: number }>;
    };
    assert.equal(cluster.streams.map(({ stream, replicas }) => [stream, replicas]).sort(), [
      ['TASKS', 3],
      ['TASK_LOGS', 3],
      ['WORKER_EVENTS', 3],
    ]);
    assert.ok(
      cluster.controlPlanes.filter(({ partitions }) => partitions.length > 0).length >= 2,
      status.stdout,
    );

    await assertStopsCleanly(started, 'SIGINT');
  } finally {
    started?.kill();
    dataDir.remove();
  }
});

test.run();
