import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { WorkerJson } from '../../cli/worker-stats.js';
import { decodeAlert } from '../../streams/contracts/alerts.js';
import type { WorkerStreamEvent } from '../../streams/contracts/worker-events.js';
import type { HeartbeatPublisher } from '../../worker/heartbeat-publisher.js';
import { type RunningCli, runCli } from '../support/cli.js';
import { TestCluster } from '../support/cluster.js';
import { waitFor } from '../support/nats.js';

/**
 * Steps the REAL wall clock of a running `cloudai serve` with Debian's libfaketime: Date.now()
 * jumps as the offset file says, while the monotonic clock and the timers run on.
 */
const LIBFAKETIME = '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1';
const TIMEOUT_MS = 3_000;
const STEP_MS = 5 * 60_000;

interface Context {
  cluster: TestCluster;
  offsetFile: string;
  /** The environment of processes that live on the stepped clock: serve and the CLI reading its model. */
  steppedEnv: NodeJS.ProcessEnv;
  serve: RunningCli;
  nc: NatsConnection;
  workers: Map<string, HeartbeatPublisher>;
  /** When each worker started beating, on this process's monotonic clock. */
  startedAt: Map<string, number>;
  /**
   * Every liveness change, as the alerts carry it, with when this process (an unstepped clock)
   * heard it, on its wall clock and on its monotonic one.
   */
  heard: Array<{ event: WorkerStreamEvent; heardAt: number; heardAtMonotonic: number }>;
  alerts: Subscription;
}

const clock = suite<Context>('wall-clock steps of a running serve: liveness runs on the monotonic clock');

/** Moves the stepped processes' wall clock to `offsetMs` from the real one. */
function stepTo(context: Context, offsetMs: number): void {
  writeFileSync(context.offsetFile, `${offsetMs >= 0 ? '+' : ''}${offsetMs / 1000}s\n`);
}

clock.before(async (context) => {
  assert.ok(existsSync(LIBFAKETIME), `${LIBFAKETIME} is missing: apt-get install -y faketime`);
  context.cluster = await TestCluster.start({ heartbeatTimeoutMs: TIMEOUT_MS, heartbeatIntervalMs: 300 });
  context.offsetFile = join(context.cluster.dataDir.path, 'faketime-offset');
  stepTo(context, 0);
  context.steppedEnv = {
    ...context.cluster.env(),
    LD_PRELOAD: LIBFAKETIME,
    FAKETIME_TIMESTAMP_FILE: context.offsetFile,
    FAKETIME_NO_CACHE: '1',
    DONT_FAKE_MONOTONIC: '1',
  };
  context.serve = await context.cluster.startServe(undefined, context.steppedEnv);
  context.nc = await context.cluster.connect('clock-step-test');
  context.heard = [];
  context.alerts = context.nc.subscribe('alerts.>', {
    callback: (error, msg) => {
      if (error) return;
      const alert = decodeAlert(msg.data);
      if (alert.ok) {
        context.heard.push({
          event: alert.value.event,
          heardAt: Date.now(),
          heardAtMonotonic: performance.now(),
        });
      }
    },
  });
  context.workers = new Map();
  context.startedAt = new Map();
  for (const workerId of ['tessa', 'kim', 'ravi']) {
    const worker = context.cluster.worker(context.nc, workerId);
    context.startedAt.set(workerId, performance.now());
    worker.start();
    context.workers.set(workerId, worker);
  }
  await waitFor(() => context.cluster.workers().length === 3, 10_000, 'three workers registered');
});

clock.after(async (context) => {
  context.alerts?.unsubscribe();
  await context.cluster?.close();
});

const failuresOf = (context: Context, workerId: string) =>
  context.heard
    .map(({ event }) => event)
    .filter(
      (event) =>
        'workerId' in event &&
        event.workerId === workerId &&
        (event.type === 'WorkerSuspected' || event.type === 'WorkerInactive'),
    );

/** Stops a worker's heartbeats and returns how long after its last one the alert of its inactivity came. */
async function stopAndTimeDetection(context: Context, workerId: string): Promise<number> {
  const worker = context.workers.get(workerId);
  assert.ok(worker);
  worker.stop();
  const stoppedAt = Date.now();
  await waitFor(
    () => failuresOf(context, workerId).some((event) => event.type === 'WorkerInactive'),
    TIMEOUT_MS + 2_000,
    `${workerId} inactive`,
  );
  const inactive = context.heard.find(
    ({ event }) => event.type === 'WorkerInactive' && 'workerId' in event && event.workerId === workerId,
  );
  return (inactive?.heardAt ?? Number.NaN) - stoppedAt;
}

async function statsOf(context: Context): Promise<WorkerJson[]> {
  const listed = await runCli(['workers', '--json'], context.steppedEnv);
  assert.is(listed.code, 0, listed.stderr);
  const workers = JSON.parse(listed.stdout) as WorkerJson[];
  for (const worker of workers) {
    for (const [name, value] of Object.entries(worker.stats)) {
      assert.ok(value === null || value >= 0, `${worker.workerId}: ${name} is ${value}`);
    }
    const { availabilityLast24h, availabilitySinceRegistration } = worker.stats;
    for (const share of [availabilityLast24h, availabilitySinceRegistration]) {
      assert.ok(share === null || share <= 1, `${worker.workerId}: availability ${share}`);
    }
  }
  return workers;
}

clock(
  'baseline: a stopped worker is inactive within timeout + 1 s on an unstepped clock',
  async (context) => {
    const took = await stopAndTimeDetection(context, 'ravi');
    assert.ok(took <= TIMEOUT_MS + 1_000, `detected after ${took} ms`);
    process.stdout.write(
      `\n  measured: detection of a stopped worker, no step: ${took} ms (timeout ${TIMEOUT_MS} ms)\n`,
    );
  },
);

clock('a step forward by minutes: no live worker is suspected or declared inactive', async (context) => {
  stepTo(context, STEP_MS);
  // Two full timeouts: a deadline read from the stepped wall clock would have passed long ago.
  await sleep(2 * TIMEOUT_MS);
  assert.equal(failuresOf(context, 'tessa'), []);
  assert.equal(failuresOf(context, 'kim'), []);
  const workers = await statsOf(context);
  assert.equal(
    workers.map((worker) => [worker.workerId, worker.status]),
    [
      ['kim', 'active'],
      ['ravi', 'inactive'],
      ['tessa', 'active'],
    ],
  );
});

clock(
  'a step back by minutes: live workers stay active; a stopped one is inactive within timeout + 1 s',
  async (context) => {
    stepTo(context, -STEP_MS);
    await sleep(2 * TIMEOUT_MS);
    assert.equal(failuresOf(context, 'tessa'), []);
    assert.equal(failuresOf(context, 'kim'), []);
    await statsOf(context);

    const took = await stopAndTimeDetection(context, 'kim');
    assert.ok(took <= TIMEOUT_MS + 1_000, `detected after ${took} ms`);
    const inactive = failuresOf(context, 'kim').find((event) => event.type === 'WorkerInactive');
    assert.ok(inactive?.type === 'WorkerInactive');
    // Measured on the monotonic clock: the silence is the timeout, not the timeout plus a step.
    assert.ok(
      inactive.silentForMs >= TIMEOUT_MS && inactive.silentForMs < TIMEOUT_MS + 1_000,
      `silent for ${inactive.silentForMs} ms`,
    );
    // Its `at` is the stepped wall clock, as an operator on that host reads it.
    const expectedAt = Date.now() - STEP_MS;
    assert.ok(
      Math.abs(inactive.at - expectedAt) < 5_000,
      `at ${inactive.at} vs the stepped clock ${expectedAt}`,
    );
    process.stdout.write(
      `\n  measured: detection of a stopped worker after a ${STEP_MS / 60_000} min backward step: ${took} ms (timeout ${TIMEOUT_MS} ms)\n`,
    );
    const workers = await statsOf(context);
    const kim = workers.find((worker) => worker.workerId === 'kim');
    assert.is(kim?.status, 'inactive');
    // Up from its start to its outage across both steps: the stretches were measured on the
    // monotonic clock, so its time up is the real time that passed (wall-clock `at`s would give none).
    const inactiveHeardAt = context.heard.find(({ event }) => event === inactive)?.heardAtMonotonic;
    const upFor = (inactiveHeardAt ?? Number.NaN) - (context.startedAt.get('kim') ?? Number.NaN);
    const upShown = (kim?.stats.activeMs ?? 0) + (kim?.stats.suspectMs ?? 0);
    assert.ok(Math.abs(upShown - upFor) < 1_000, `up ${upShown} ms shown, ${Math.round(upFor)} ms real`);
    assert.ok((kim?.stats.activeMs ?? 0) > upFor - TIMEOUT_MS - 1_000, `active ${kim?.stats.activeMs} ms`);
    process.stdout.write(`  measured: kim up ${upShown} ms shown, ${Math.round(upFor)} ms real\n`);
    assert.is(workers.find((worker) => worker.workerId === 'tessa')?.status, 'active');
    const shown = await runCli(['workers', 'stats', 'kim'], context.steppedEnv);
    assert.is(shown.code, 0, shown.stderr);
    // Dates have dashes; a negative figure would be a dash after a space or an opening parenthesis.
    assert.not.match(shown.stdout, /[\s(]-\d/, `no negative figure:\n${shown.stdout}`);
    assert.match(shown.stdout, /time inactive\s+\d/);
  },
);

clock.run();
