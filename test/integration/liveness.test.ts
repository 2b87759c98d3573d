import type { NatsConnection } from '@nats-io/transport-node';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { resolveConfig } from '../../cli/config.js';
import { ControlPlane } from '../../cli/control-plane.js';
import type { ReadModel } from '../../projections/read-model.js';
import { connectToNats } from '../../streams/connection.js';
import { HeartbeatPublisher } from '../../streams/heartbeat-publisher.js';
import { silentLogger } from '../../streams/logger.js';
import type { NatsServer } from '../../streams/nats-server.js';
import { makeTempDir, startTestNatsServer, waitFor } from '../support/nats.js';
import { readWorkerEvents } from '../support/stream.js';

const HEARTBEAT_TIMEOUT_MS = 400;

interface Context {
  server: NatsServer;
  storeDir: ReturnType<typeof makeTempDir>;
  dataDir: ReturnType<typeof makeTempDir>;
  controlPlane: ControlPlane;
  workerConnection: NatsConnection;
}

const liveness = suite<Context>('liveness end to end (real nats-server, real LMDB)');

liveness.before(async (context) => {
  context.storeDir = makeTempDir('nats');
  context.dataDir = makeTempDir('data');
  context.server = await startTestNatsServer(context.storeDir.path);
  context.controlPlane = await startControlPlane(context);
  context.workerConnection = await connectToNats({ url: context.server.url, name: 'test-worker' });
});

liveness.after(async (context) => {
  await context.workerConnection?.close();
  await context.controlPlane?.close();
  await context.server?.stop();
  context.storeDir?.remove();
  context.dataDir?.remove();
});

function startControlPlane(context: Context): Promise<ControlPlane> {
  return ControlPlane.start({
    config: resolveConfig(
      {
        natsUrl: context.server.url,
        dataDir: context.dataDir.path,
        heartbeatTimeoutMs: HEARTBEAT_TIMEOUT_MS,
        heartbeatIntervalMs: 100,
      },
      {},
    ),
    logger: () => silentLogger,
  });
}

function worker(context: Context, workerId: string): HeartbeatPublisher {
  return new HeartbeatPublisher({
    nc: context.workerConnection,
    workerId,
    intervalMs: 100,
    address: '127.0.0.1:50052',
    capacity: { cpu: 8, memoryGb: 16, storageGb: 100, gpu: 1 },
    usage: () => ({ cpu: 0.25, memory: 0.5, storage: 0.1, gpu: 0 }),
  });
}

function statusOf(readModel: ReadModel, workerId: string): string | undefined {
  return readModel.snapshot((view) => view.getWorker(workerId)?.status);
}

liveness(
  'a worker goes active, inactive within timeout + 1 s of stopping, and active again',
  async (context) => {
    const { readModel } = context.controlPlane;
    const tessa = worker(context, 'tessa');
    tessa.start();
    await waitFor(() => statusOf(readModel, 'tessa') === 'active', 5_000, 'tessa active in the read model');

    const document = readModel.snapshot((view) => view.getWorker('tessa'));
    assert.is(document?.address, '127.0.0.1:50052');
    assert.equal(document?.capacity, { cpu: 8, memoryGb: 16, storageGb: 100, gpu: 1 });
    // Heartbeat samples reach the read model within a second, although they are not events.
    await waitFor(
      () => readModel.snapshot((view) => view.getWorker('tessa')?.usage.memory === 0.5),
      1_000,
      'usage in the read model',
    );

    tessa.stop();
    const stoppedAt = Date.now();
    await waitFor(
      () => statusOf(readModel, 'tessa') === 'inactive',
      HEARTBEAT_TIMEOUT_MS + 1_000,
      'tessa inactive',
    );
    const detectedAfter = Date.now() - stoppedAt;
    assert.ok(
      detectedAfter >= HEARTBEAT_TIMEOUT_MS - 150,
      `inactive too early: ${detectedAfter} ms after the last beat`,
    );

    tessa.start();
    await waitFor(() => statusOf(readModel, 'tessa') === 'active', 2_000, 'tessa active again');
    tessa.stop();

    const events = (await readWorkerEvents(context.workerConnection))
      .map((stored) => stored.event)
      .filter((event) => event.workerId === 'tessa');
    assert.equal(
      events.map((event) => [event.type, event.seq]),
      [
        ['WorkerRegistered', 1],
        ['WorkerInactive', 2],
        ['WorkerActivated', 3],
      ],
    );
    await waitFor(
      () => statusOf(readModel, 'tessa') === 'inactive',
      HEARTBEAT_TIMEOUT_MS + 1_000,
      'tessa inactive again',
    );
  },
);

liveness(
  'a restarted control plane continues the numbering and gives active workers a full timeout',
  async (context) => {
    const kim = worker(context, 'kim');
    kim.start();
    const { readModel } = context.controlPlane;
    await waitFor(() => statusOf(readModel, 'kim') === 'active', 5_000, 'kim active');
    await context.controlPlane.close();

    context.controlPlane = await startControlPlane(context);
    const restartedAt = Date.now();
    // Kim keeps beating through the restart: it must never be declared inactive.
    await new Promise((resolve) => setTimeout(resolve, HEARTBEAT_TIMEOUT_MS * 2));
    assert.is(statusOf(context.controlPlane.readModel, 'kim'), 'active');
    kim.stop();
    await waitFor(
      () => statusOf(context.controlPlane.readModel, 'kim') === 'inactive',
      HEARTBEAT_TIMEOUT_MS + 1_000,
      'kim inactive after it stops',
    );
    assert.ok(Date.now() - restartedAt > HEARTBEAT_TIMEOUT_MS);

    const events = (await readWorkerEvents(context.workerConnection))
      .map((stored) => stored.event)
      .filter((event) => event.workerId === 'kim');
    assert.equal(
      events.map((event) => [event.type, event.seq]),
      [
        ['WorkerRegistered', 1],
        ['WorkerInactive', 2],
      ],
    );
  },
);

liveness.run();
