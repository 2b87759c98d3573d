import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { WorkerJson } from '../../cli/worker-stats.js';
import { ReadModel } from '../../projections/read-model.js';
import { applyWorkerEventBatch } from '../../projections/worker-projector.js';
import { runCli, workersJson } from '../support/cli.js';
import { makeTempDir } from '../support/nats.js';
import { streamMessagesOf, workerHistory } from '../support/worker-history.js';
import { everyStateHistory } from '../support/workers.js';

const MINUTE = 60_000;

interface Context {
  dataDir: ReturnType<typeof makeTempDir>;
  env: NodeJS.ProcessEnv;
  /** When the histories began: an hour before the test. */
  base: number;
}

const e2e = suite<Context>(
  'cloudai workers and workers stats on suspect, inactive, flapping, cordoned, removed',
);

e2e.before(async (context) => {
  context.dataDir = makeTempDir('states');
  context.env = { CLOUDAI_DATA_DIR: context.dataDir.path };
  const base = Date.now() - 60 * MINUTE;
  context.base = base;
  const at = (minutes: number) => base + minutes * MINUTE;
  // The read model as the projector leaves it, written the way it does (no control plane needed).
  const readModel = ReadModel.open({ dataDir: context.dataDir.path });
  try {
    await applyWorkerEventBatch(
      readModel,
      streamMessagesOf([
        ...workerHistory('amy', everyStateHistory(at)),
        ...workerHistory('ben', [
          ['registered', at(0)],
          ['suspected', at(50)],
        ]),
        ...workerHistory('cat', [
          ['registered', at(0)],
          ['inactive', at(5)],
        ]),
        ...workerHistory('dan', [
          ['registered', at(0)],
          ['inactive', at(10)],
          ['removed', at(20)],
        ]),
        ...workerHistory('eve', [['registered', at(0)]]),
        {
          type: 'DisruptionStarted',
          at: at(55),
          seq: 1,
          unhealthyWorkers: 2,
          consideredWorkers: 4,
          thresholdPercent: 55,
        },
      ]),
    );
  } finally {
    await readModel.close();
  }
});

e2e.after((context) => {
  context.dataDir?.remove();
});

/** `workers --json` with the moments just before and after it ran, which bound its `now`. */
async function timedJson(context: Context, extra: string[] = []) {
  const before = Date.now();
  const workers = await workersJson(context.env, extra);
  return { workers, before, after: Date.now() };
}

e2e('--json: statuses, flags, schedulable and the stats of each worker', async (context) => {
  const { workers, before, after } = await timedJson(context);
  assert.equal(
    workers.map((worker) => [
      worker.workerId,
      worker.status,
      worker.schedulable,
      worker.flapping,
      worker.cordoned,
    ]),
    [
      ['amy', 'active', false, true, true],
      ['ben', 'suspect', false, false, false],
      ['cat', 'inactive', false, false, false],
      ['eve', 'active', true, false, false],
    ],
    'removed workers are left out by default',
  );
  const amy = workers[0] as WorkerJson;
  // Only the current stretch (active since minute 40) depends on when the CLI read.
  const { activeMs, availabilityLast24h, availabilitySinceRegistration, ...fixed } = amy.stats;
  assert.equal(fixed, {
    suspectMs: MINUTE,
    inactiveMs: 10 * MINUTE,
    outages: 1,
    recoveries: 1,
    meanTimeToRecoveryMs: 10 * MINUTE,
  });
  const sinceActive = context.base + 40 * MINUTE;
  assert.ok(activeMs >= 29 * MINUTE + before - sinceActive && activeMs <= 29 * MINUTE + after - sinceActive);
  const lifetime = activeMs + MINUTE + 10 * MINUTE;
  assert.is(availabilitySinceRegistration, (activeMs + MINUTE) / lifetime);
  assert.is(
    availabilityLast24h,
    availabilitySinceRegistration,
    'younger than a day: the window is its lifetime',
  );

  const all = await timedJson(context, ['--all']);
  const dan = all.workers.find((worker) => worker.workerId === 'dan');
  assert.equal(
    dan?.stats,
    {
      activeMs: 10 * MINUTE,
      suspectMs: 0,
      inactiveMs: 10 * MINUTE,
      outages: 1,
      recoveries: 0,
      meanTimeToRecoveryMs: null,
      availabilityLast24h: 0.5,
      availabilitySinceRegistration: 0.5,
    },
    'a removed worker’s figures stop at its removal',
  );
  assert.is(dan?.schedulable, false);
});

e2e('the table: labels, SCHEDULABLE, removed hidden, counts and the disruption banner', async (context) => {
  const result = await runCli(['workers'], context.env);
  assert.is(result.code, 0, result.stderr);
  const lines = result.stdout.trimEnd().split('\n');
  assert.match(
    lines[0] ?? '',
    /^disruption mode since \d\d:\d\d:\d\d \(\d+m\d\ds; 2 of 4 workers unhealthy when it started\): no worker is declared inactive; end it with `cloudai disruption end`$/,
  );
  assert.match(result.stdout, /^amy\s+● active\s+no: cordoned, flapping\s/m);
  assert.match(result.stdout, /^ben\s+◐ suspect\s+no\s/m);
  assert.match(result.stdout, /^cat\s+○ inactive\s+no\s/m);
  assert.match(result.stdout, /^eve\s+● active\s+yes\s/m);
  assert.not.match(result.stdout, /^dan/m);
  assert.is(
    lines.at(-1),
    '4 workers: 2 active, 1 suspect, 1 inactive; 1 schedulable, 1 cordoned, 1 flapping (1 removed not shown: --all shows them)',
  );

  const removed = await runCli(['workers', '--status', 'removed'], context.env);
  assert.match(removed.stdout, /^dan\s+✕ removed\s+no\s/m);
  assert.match(removed.stdout, /\n1 worker: 0 active, 0 suspect, 0 inactive, 1 removed; 0 schedulable\n$/);
});

e2e('--status suspect, and a status that does not exist', async (context) => {
  const suspect = await runCli(['workers', '--status', 'suspect'], context.env);
  assert.is(suspect.code, 0, suspect.stderr);
  const rows = suspect.stdout.split('\n').filter((line) => /^\S+\s+[●◐○✕] /.test(line));
  assert.equal(
    rows.map((row) => row.split(' ')[0]),
    ['ben'],
  );
  assert.equal(
    (await workersJson(context.env, ['--status', 'unschedulable'])).map((worker) => worker.workerId),
    ['amy', 'ben', 'cat'],
  );
  const bad = await runCli(['workers', '--status', 'dead'], context.env);
  assert.is(bad.code, 1);
  assert.match(
    bad.stderr,
    /^cloudai: --status "dead" is not a status: use one of active, suspect, inactive, left, removed, /,
  );
});

e2e('workers stats ID: the readable block, and --json', async (context) => {
  const result = await runCli(['workers', 'stats', 'amy'], context.env);
  assert.is(result.code, 0, result.stderr);
  assert.match(result.stdout, /^amy {2}● active for \d+m\d\ds, since \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\n/);
  assert.match(
    result.stdout,
    /^ {2}schedulable\s+no \(flapping: .*; cordoned: `cloudai workers uncordon amy` lifts it\)$/m,
  );
  assert.match(result.stdout, /^ {2}time suspect\s+1m00s \(\d+\.\d%\)$/m);
  assert.match(result.stdout, /^ {2}time inactive\s+10m00s \(\d+\.\d%\)$/m);
  assert.match(result.stdout, /^ {2}outages\s+1 \(1 recovered\)$/m);
  assert.match(result.stdout, /^ {2}mean time to recovery\s+10m00s$/m);
  assert.match(result.stdout, /^ {2}availability, last 24 h\s+8\d\.\d\d%$/m);
  assert.match(result.stdout, /^ {2}availability, since registration\s+8\d\.\d\d%$/m);

  // Options after the subcommand are its own; the data dir may also come before it.
  const json = await runCli(['workers', '--data-dir', context.dataDir.path, 'stats', 'dan', '--json'], {});
  assert.is(json.code, 0, json.stderr);
  const dan = JSON.parse(json.stdout) as WorkerJson;
  assert.is(dan.workerId, 'dan');
  assert.is(dan.status, 'removed');
  assert.is(dan.schedulable, false);
  assert.is(dan.stats.meanTimeToRecoveryMs, null);
  assert.is(dan.stats.inactiveMs, 10 * MINUTE);
  assert.is(dan.uptime?.since, context.base);
});

e2e('workers stats of an unknown worker: one line saying how to list them, exit 1', async (context) => {
  const result = await runCli(['workers', 'stats', 'zed'], context.env);
  assert.is(result.code, 1);
  assert.is(result.stdout, '');
  assert.is(result.stderr.trim().split('\n').length, 1, result.stderr);
  assert.match(
    result.stderr,
    /^cloudai: no worker "zed" in .*: list the workers with `cloudai workers --all`\n$/,
  );
});

e2e.run();
