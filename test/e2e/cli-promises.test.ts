import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { WorkerJson } from '../../cli/worker-stats.js';
import { startUptime } from '../../projections/uptime.js';
import { type RunningCli, runCli, spawnCli, startActiveWorkers } from '../support/cli.js';
import { TestCluster } from '../support/cluster.js';
import { waitFor } from '../support/nats.js';

interface Context {
  cluster: TestCluster;
  env: NodeJS.ProcessEnv;
  workers: Map<string, RunningCli>;
}

const e2e = suite<Context>('what the help and the docs promise, the real cloudai binary does');

e2e.before(async (context) => {
  context.cluster = await TestCluster.start({ heartbeatTimeoutMs: 2_000, heartbeatIntervalMs: 200 });
  context.env = context.cluster.env();
  await context.cluster.startServe(undefined, context.env);
  context.workers = await startActiveWorkers(['amy', 'bo', 'cy', 'di'], context.env);
});

e2e.after(async (context) => {
  for (const worker of context.workers?.values() ?? []) worker.process.kill('SIGKILL');
  await context.cluster?.close();
});

e2e('a --status that matches no worker says so, and how many there are in all', async (context) => {
  for (const filter of ['suspect', 'inactive', 'removed', 'unschedulable', 'flapping', 'cordoned']) {
    const result = await runCli(['workers', '--status', filter], context.env);
    assert.is(result.code, 0, result.stderr);
    assert.is(
      result.stdout,
      `no worker matches --status ${filter}; 4 workers in all: \`cloudai workers --all\` lists them\n`,
    );
  }
});

e2e(
  'workers stats ID --json includes the uptime record, also for a worker that never changed state',
  async (context) => {
    const result = await runCli(['workers', 'stats', 'amy', '--json'], context.env);
    assert.is(result.code, 0, result.stderr);
    const amy = JSON.parse(result.stdout) as WorkerJson;
    assert.is(amy.status, 'active');
    // Never changed state: no stored record, so the one the read model rebuilds from the document.
    assert.equal(amy.uptime, startUptime({ status: 'active', since: amy.statusSince }));
    assert.ok(amy.stats.activeMs > 0);
  },
);

e2e('workers --watch --json streams one JSON array per line every second until Ctrl-C', async (context) => {
  const watch = spawnCli(['workers', '--watch', '--json', '--status', 'active'], context.env);
  let stdout = '';
  watch.process.stdout?.on('data', (chunk) => {
    stdout += chunk;
  });
  const lines = () => stdout.split('\n').filter((line) => line !== '');
  const waited = await waitFor(() => lines().length >= 3, 5_000, 'three documents');
  assert.ok(waited >= 1_500, `three documents after ${waited} ms: one a second, not all at once`);
  for (const line of lines()) {
    const workers = JSON.parse(line) as WorkerJson[];
    assert.equal(
      workers.map((worker) => worker.workerId),
      ['amy', 'bo', 'cy', 'di'],
    );
  }
  watch.process.kill('SIGINT');
  assert.equal(await watch.exited, { code: 0, signal: null }, watch.output());
});

e2e.run();
