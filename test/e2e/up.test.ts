import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { findRunningUp, runningUpPath } from '../../cli/running-up.js';
import { type RunningCli, runCli, spawnCli, workersJson } from '../support/cli.js';
import { makeTempDir, waitFor } from '../support/nats.js';
import { assertStopsCleanly, isRunning, type StartedUp, startUp } from '../support/up.js';

/** Fast heartbeats, so that a killed worker turns inactive within the test's waits. */
const DEMO_FLAGS = ['--heartbeat-timeout-ms', '1000', '--heartbeat-interval-ms', '200'];
const READY_TIMEOUT_MS = 30_000;

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
  const started = await startUp({ env, flags: DEMO_FLAGS, readyTimeoutMs: READY_TIMEOUT_MS });
  const { up, pids, pidOf } = started;
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

    await assertStopsCleanly(started, 'SIGINT');
  } finally {
    started.kill();
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
  const first = await startUp({ env, flags: DEMO_FLAGS, readyTimeoutMs: READY_TIMEOUT_MS });
  let second: StartedUp | undefined;
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

    second = await startUp({ env, flags: DEMO_FLAGS, readyTimeoutMs: READY_TIMEOUT_MS });
    assert.match(second.up.output(), new RegExp(`stopping nats-server pid ${oldServer}, left running`));
    assert.not.ok(isRunning(oldServer));
    await assertStopsCleanly(second, 'SIGTERM');
  } finally {
    first.kill();
    second?.kill();
    dataDir.remove();
  }
});

/** The arguments of the hint line of `up` that runs `cloudai <command>`, as printed (without the `node dist/…` part). */
function printedCommand(output: string, command: string): string[] {
  const line = output
    .split('\n')
    .find((candidate) => candidate.includes(` ${command}`) && candidate.includes('#'));
  const printed = line?.slice(0, line.indexOf('#')).trim() ?? '';
  const args = printed.split(/\s+/);
  const start = args.indexOf(command.split(' ')[0] as string);
  assert.ok(start > 0, `no hint for ${command} in: ${output}`);
  return args.slice(start);
}

test('commands on the data dir of `up` find its server and timing: submit, the hints as printed, a restarted worker', async () => {
  const dataDir = makeTempDir('up-join');
  // The only setting the other commands get: the data dir (no NATS_URL, no timing).
  const sameFolder = {
    CLOUDAI_DATA_DIR: dataDir.path,
    NATS_URL: undefined,
    CLOUDAI_HEARTBEAT_INTERVAL_MS: undefined,
  };
  const intervalMs = 500;
  // φ decides after two samples, so that the stop hint is checked where φ, not the fixed grace, decides.
  const started = await startUp({
    env: { ...sameFolder, CLOUDAI_PHI_MIN_SAMPLES: '2' },
    flags: [
      '--nats-port',
      '0',
      '--heartbeat-interval-ms',
      String(intervalMs),
      '--heartbeat-timeout-ms',
      '8000',
    ],
    readyTimeoutMs: READY_TIMEOUT_MS,
  });
  const { up, pidOf } = started;
  const workers: RunningCli[] = [];
  try {
    const natsUrl = started.urlOf('nats-server') ?? '';
    assert.not.match(natsUrl, /:4222$/);
    assert.is(findRunningUp(dataDir.path)?.natsUrl, natsUrl);

    await waitFor(
      async () => (await workersJson(sameFolder)).filter((w) => w.status === 'active').length === 3,
      15_000,
      'three active workers',
    );
    const submitted = await runCli(['task', 'submit', '--cpu', '1'], sameFolder);
    assert.is(submitted.code, 0, submitted.stderr);
    assert.match(submitted.stdout, /^task t-[a-z0-9]+ assigned to (tessa|kim|ravi)\n$/, submitted.stdout);

    // The hints, run as printed: no environment at all, the data dir is in the command.
    const noEnv = {
      CLOUDAI_DATA_DIR: undefined,
      NATS_URL: undefined,
      CLOUDAI_HEARTBEAT_INTERVAL_MS: undefined,
    };
    const credentials = await runCli(printedCommand(up.output(), 'credentials worker'), noEnv);
    assert.is(credentials.code, 0, credentials.stderr);
    const extra = spawnCli(printedCommand(up.output(), 'worker --id extra'), noEnv);
    workers.push(extra);
    await waitFor(() => /heartbeating on/.test(extra.output()), 10_000, 'extra starts');
    assert.match(extra.output(), new RegExp(`heartbeating on ${natsUrl} every ${intervalMs} ms`));
    await waitFor(
      async () =>
        (await workersJson(sameFolder)).some((w) => w.workerId === 'extra' && w.status === 'active'),
      10_000,
      'extra active',
    );

    // The stop hint's bound holds where φ decides (after its minimum of samples).
    const bound = /crash worker tessa instead: suspect within ([\d.]+) s of silence/.exec(up.output());
    assert.ok(bound, up.output());
    const boundMs = Number(bound?.[1]) * 1000;
    await waitFor(
      async () => {
        const tessa = (await workersJson(sameFolder)).find((w) => w.workerId === 'tessa');
        return tessa !== undefined && tessa.lastHeartbeatAt - tessa.registeredAt >= 3 * intervalMs;
      },
      10_000,
      'tessa has beaten a few times',
    );
    const killedAt = Date.now();
    // Killed outright: a clean stop (SIGTERM) would leave at once instead.
    process.kill(pidOf('worker tessa'), 'SIGKILL');
    let suspectAt = 0;
    await waitFor(
      async () => {
        const tessa = (await workersJson(sameFolder)).find((w) => w.workerId === 'tessa');
        if (tessa?.status === 'suspect') suspectAt = tessa.statusSince;
        return suspectAt > 0;
      },
      boundMs + 2_000,
      'tessa suspect',
    );
    assert.ok(
      suspectAt - killedAt <= boundMs,
      `suspect ${suspectAt - killedAt} ms after the kill; bound ${boundMs}`,
    );
    // φ decided: the fixed grace (2 × interval) alone would have been sooner.
    assert.ok(suspectAt - killedAt > 2 * intervalMs, `suspect after ${suspectAt - killedAt} ms`);

    // The docs' command for restarting a demo worker beats at the interval of `up`.
    const tessa = spawnCli(
      ['worker', '--id', 'tessa', '--cpu', '8', '--memory', '16', '--gpu', '1'],
      sameFolder,
    );
    workers.push(tessa);
    await waitFor(() => /heartbeating on/.test(tessa.output()), 10_000, 'tessa restarts');
    assert.match(tessa.output(), new RegExp(`heartbeating on ${natsUrl} every ${intervalMs} ms`));

    await assertStopsCleanly(started, 'SIGINT');
    assert.not.ok(existsSync(runningUpPath(dataDir.path)), 'the file of a stopped up is removed');
  } finally {
    for (const worker of workers) worker.process.kill('SIGKILL');
    started.kill();
    dataDir.remove();
  }
});

test.run();
