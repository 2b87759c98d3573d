import { setTimeout as sleep } from 'node:timers/promises';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { ControlPlane } from '../../control-plane/control-plane.js';
import { TestCluster } from '../support/cluster.js';
import { waitFor } from '../support/nats.js';
import { readEventsOf } from '../support/stream.js';

const HEARTBEAT_TIMEOUT_MS = 400;
const HEARTBEAT_INTERVAL_MS = 100;

interface Context {
  cluster: TestCluster;
  controlPlane: ControlPlane;
}

const liveness = suite<Context>('liveness end to end (real nats-server, real LMDB)');

liveness.before(async (context) => {
  context.cluster = await TestCluster.start({
    heartbeatTimeoutMs: HEARTBEAT_TIMEOUT_MS,
    heartbeatIntervalMs: HEARTBEAT_INTERVAL_MS,
  });
  context.controlPlane = await context.cluster.startControlPlane();
});

liveness.after(async (context) => {
  await context.controlPlane?.close();
  await context.cluster?.close();
});

liveness(
  'a worker goes active, inactive within timeout + 1 s of stopping, and active again',
  async ({ cluster }) => {
    const nc = await cluster.connect('test-worker');
    const tessa = cluster.worker(nc, 'tessa');
    tessa.start();
    await waitFor(() => cluster.statusOf('tessa') === 'active', 5_000, 'tessa active in the read model');

    const document = cluster.readModel().snapshot((view) => view.getWorker('tessa'));
    assert.is(document?.address, '127.0.0.1:50052');
    assert.equal(document?.capacity, { cpu: 8, memoryGb: 16, storageGb: 100, gpu: 1 });
    // Heartbeat samples reach the read model within a second, although they are not events.
    await waitFor(
      () => cluster.readModel().snapshot((view) => view.getWorker('tessa')?.usage.memory === 0.5),
      1_000,
      'usage in the read model',
    );

    tessa.stop();
    const stoppedAt = Date.now();
    await waitFor(
      () => cluster.statusOf('tessa') === 'inactive',
      HEARTBEAT_TIMEOUT_MS + 1_000,
      'tessa inactive',
    );
    const detectedAfter = Date.now() - stoppedAt;
    assert.ok(
      detectedAfter >= HEARTBEAT_TIMEOUT_MS - HEARTBEAT_INTERVAL_MS,
      `inactive too early: ${detectedAfter} ms`,
    );

    tessa.start();
    await waitFor(() => cluster.statusOf('tessa') === 'active', 2_000, 'tessa active again');
    tessa.stop();

    const events = await readEventsOf(nc, 'tessa');
    assert.equal(
      events.map((event) => [event.type, event.seq]),
      [
        ['WorkerRegistered', 1],
        ['WorkerSuspected', 2],
        ['WorkerInactive', 3],
        ['WorkerActivated', 4],
      ],
    );
    await waitFor(
      () => cluster.statusOf('tessa') === 'inactive',
      HEARTBEAT_TIMEOUT_MS + 1_000,
      'tessa inactive again',
    );
  },
);

liveness(
  'a restarted control plane continues the numbering and gives active workers a full timeout',
  async (context) => {
    const { cluster } = context;
    const nc = await cluster.connect('test-worker-kim');
    const kim = cluster.worker(nc, 'kim');
    kim.start();
    await waitFor(() => cluster.statusOf('kim') === 'active', 5_000, 'kim active');
    await context.controlPlane.close();

    context.controlPlane = await cluster.startControlPlane();
    const restartedAt = Date.now();
    // Kim keeps beating through the restart: it must never be declared inactive.
    await sleep(HEARTBEAT_TIMEOUT_MS * 2);
    assert.is(cluster.statusOf('kim'), 'active');
    kim.stop();
    await waitFor(
      () => cluster.statusOf('kim') === 'inactive',
      HEARTBEAT_TIMEOUT_MS + 1_000,
      'kim inactive after it stops',
    );
    assert.ok(Date.now() - restartedAt > HEARTBEAT_TIMEOUT_MS);

    const events = await readEventsOf(nc, 'kim');
    assert.equal(
      events.map((event) => [event.type, event.seq]),
      [
        ['WorkerRegistered', 1],
        ['WorkerSuspected', 2],
        ['WorkerInactive', 3],
      ],
    );
  },
);

liveness.run();
