import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { WorkerJson } from '../../cli/worker-stats.js';
import type { NatsServer } from '../../streams/nats/nats-server.js';
import { type RunningCli, runCli, spawnCli, workersJson } from '../support/cli.js';
import { makeTempDir, startTestNatsServer, waitFor } from '../support/nats.js';

const HEARTBEAT_TIMEOUT_MS = 1_000;
const HEARTBEAT_INTERVAL_MS = 200;

interface Context {
  server: NatsServer;
  storeDir: ReturnType<typeof makeTempDir>;
  dataDir: ReturnType<typeof makeTempDir>;
  env: NodeJS.ProcessEnv;
  serve: RunningCli;
}

const e2e = suite<Context>('the original bug report, with the real cloudai binary');

e2e.before(async (context) => {
  context.storeDir = makeTempDir('nats');
  context.dataDir = makeTempDir('data');
  context.server = await startTestNatsServer(context.storeDir.path);
  context.env = {
    NATS_URL: context.server.url,
    CLOUDAI_DATA_DIR: context.dataDir.path,
    CLOUDAI_HEARTBEAT_TIMEOUT_MS: String(HEARTBEAT_TIMEOUT_MS),
    CLOUDAI_HEARTBEAT_INTERVAL_MS: String(HEARTBEAT_INTERVAL_MS),
  };
  context.serve = spawnCli(['serve'], context.env);
});

e2e.after(async (context) => {
  context.serve?.process.kill('SIGKILL');
  await context.server?.stop();
  context.storeDir?.remove();
  context.dataDir?.remove();
});

const statusOf = async (context: Context, workerId: string) =>
  (await workersJson(context.env)).find((worker) => worker.workerId === workerId)?.status;

e2e('a stopped worker shows inactive after the timeout, and gets no more "Active"', async (context) => {
  const tessa = spawnCli(
    ['worker', '--id', 'tessa', '--cpu', '8', '--memory', '16', '--gpu', '1'],
    context.env,
  );
  const kim = spawnCli(['worker', '--id', 'kim', '--cpu', '4', '--memory', '8'], context.env);
  await waitFor(async () => (await statusOf(context, 'tessa')) === 'active', 15_000, 'tessa active');
  await waitFor(async () => (await statusOf(context, 'kim')) === 'active', 5_000, 'kim active');

  const table = await runCli(['workers'], context.env);
  assert.is(table.code, 0, table.stderr);
  assert.match(table.stdout, /^tessa\s+● active/m);

  // "Shut down" tessa without a word (a crash, a pulled cable): only its silence tells.
  tessa.process.kill('SIGKILL');
  const stopped = await tessa.exited;
  assert.equal(stopped, { code: null, signal: 'SIGKILL' }, 'the worker stops at once');
  const stoppedAt = Date.now();
  const took = await waitFor(
    async () => (await statusOf(context, 'tessa')) === 'inactive',
    HEARTBEAT_TIMEOUT_MS + 3_000,
    'tessa inactive',
  );
  assert.ok(Date.now() - stoppedAt <= HEARTBEAT_TIMEOUT_MS + 1_000 + 300, `inactive only after ${took} ms`);

  const after = await runCli(['workers'], context.env);
  assert.match(after.stdout, /^tessa\s+○ inactive/m);
  assert.match(after.stdout, /^kim\s+● active/m);
  const inactiveOnly = await workersJson(context.env, ['--status', 'inactive']);
  assert.equal(
    inactiveOnly.map((worker) => worker.workerId),
    ['tessa'],
  );
  // Ctrl-C stops a worker cleanly: it announces its leave, and shows as left at once.
  kim.process.kill('SIGINT');
  assert.equal(await kim.exited, { code: 0, signal: null });
  assert.is(await statusOf(context, 'kim'), 'left');
});

e2e('`workers --watch` redraws every second until Ctrl-C', async (context) => {
  const watch = spawnCli(['workers', '--watch'], context.env);
  const frames = () => watch.output().split('every 1s: cloudai workers').length - 1;
  await waitFor(() => frames() >= 3, 10_000, 'three frames');
  assert.ok(watch.output().includes('\u001b[H\u001b[2J'), 'each frame clears the screen');
  assert.match(watch.output(), /^tessa\s+○ inactive/m);
  watch.process.kill('SIGINT');
  assert.equal(await watch.exited, { code: 0, signal: null });
});

e2e('rebuild into a fresh data dir gives the same documents', async (context) => {
  // kim left before, tessa is inactive: neither changes between the rebuild and the read of the
  // live documents.
  assert.is(await statusOf(context, 'kim'), 'left');
  const fresh = makeTempDir('rebuild');
  try {
    const rebuilt = await runCli(['rebuild', '--data-dir', fresh.path], context.env);
    assert.is(rebuilt.code, 0, rebuilt.stderr);
    assert.match(rebuilt.stdout, /rebuilt 2 workers from \d+ events/);
    const strip = (workers: WorkerJson[]) =>
      // Heartbeat samples (usage, exact last-seen) are not events, so a rebuild cannot know them;
      // the stats are computed when read, and the two reads are moments apart.
      workers.map(({ usage: _usage, lastHeartbeatAt: _lastHeartbeatAt, stats: _stats, ...rest }) => rest);
    const live = await workersJson(context.env);
    const fromStream = JSON.parse(
      (await runCli(['workers', '--json', '--data-dir', fresh.path], context.env)).stdout,
    );
    assert.equal(strip(fromStream), strip(live));
  } finally {
    fresh.remove();
  }
});

e2e('serve exits 0 on SIGTERM', async (context) => {
  context.serve.process.kill('SIGTERM');
  const exit = await context.serve.exited;
  assert.equal(exit, { code: 0, signal: null }, context.serve.output());
});

e2e('without a read model, `workers` says what to start and exits 1', async () => {
  const empty = makeTempDir('empty');
  try {
    const result = await runCli(['workers'], { CLOUDAI_DATA_DIR: empty.path });
    assert.is(result.code, 1);
    assert.is(result.stdout, '');
    assert.is(result.stderr.trim().split('\n').length, 1, result.stderr);
    assert.match(
      result.stderr,
      /no read model at .*: start the control plane with `cloudai up` \(or `cloudai serve`\)/,
    );
  } finally {
    empty.remove();
  }
});

e2e.run();
