import type { NatsConnection } from '@nats-io/transport-node';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { resolveConfig } from '../../cli/config.js';
import { ControlPlane } from '../../cli/control-plane.js';
import { connectToNats } from '../../streams/connection.js';
import { encodeHeartbeat } from '../../streams/heartbeat.js';
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
  nc: NatsConnection;
}

const badInput = suite<Context>('bad heartbeats are rejected and counted; good workers keep being served');

badInput.before(async (context) => {
  context.storeDir = makeTempDir('nats');
  context.dataDir = makeTempDir('data');
  context.server = await startTestNatsServer(context.storeDir.path);
  context.controlPlane = await ControlPlane.start({
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
  context.nc = await connectToNats({ url: context.server.url, name: 'test-bad-input' });
});

badInput.after(async (context) => {
  await context.nc?.close();
  await context.controlPlane?.close();
  await context.server?.stop();
  context.storeDir?.remove();
  context.dataDir?.remove();
});

badInput('malformed JSON, wrong types, spoofed ids, illegal ids and a 1 MiB payload', async (context) => {
  const { nc, controlPlane } = context;
  const good = new HeartbeatPublisher({
    nc,
    workerId: 'tessa',
    intervalMs: 100,
    address: '127.0.0.1:1',
    capacity: { cpu: 8, memoryGb: 16, storageGb: 0, gpu: 0 },
    usage: () => ({ cpu: 0, memory: 0, storage: 0, gpu: 0 }),
  });
  good.start();
  await waitFor(
    () => controlPlane.readModel.snapshot((view) => view.getWorker('tessa')?.status === 'active'),
    5_000,
    'tessa active',
  );

  const text = (value: string) => new TextEncoder().encode(value);
  const valid = { workerId: 'mallory', sentAt: 1, seq: 1, capacity: { cpu: 1, memoryGb: 1 } };
  const rounds = 20;
  for (let round = 0; round < rounds; round++) {
    nc.publish('heartbeat.mallory', text('{"workerId": "mallory", "sentAt": '));
    nc.publish(
      'heartbeat.mallory',
      text(JSON.stringify({ ...valid, capacity: { cpu: 'eight', memoryGb: 1 } })),
    );
    // Claims to be tessa from another worker's subject: a spoof, and must not keep anyone alive.
    nc.publish('heartbeat.mallory', encodeHeartbeat({ ...valid, workerId: 'tessa' }));
    nc.publish('heartbeat.bad!id', encodeHeartbeat({ ...valid, workerId: 'bad!id' }));
    nc.publish('heartbeat.mallory', new Uint8Array(1024 * 1024).fill(0x7b));
    // Let the good worker's heartbeats through between bursts, as on a real network.
    await nc.flush();
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  await nc.flush();
  const { intake } = controlPlane;
  await waitFor(() => intake.totalRejected >= rounds * 5, 5_000, 'all bad messages counted');
  assert.equal(intake.rejected, {
    oversized: rounds,
    'invalid-subject': rounds,
    'malformed-json': rounds,
    'invalid-fields': rounds,
    'subject-mismatch': rounds,
    'fleet-full': 0,
  });

  // The good worker stayed active throughout, and nobody else was registered.
  await new Promise((resolve) => setTimeout(resolve, HEARTBEAT_TIMEOUT_MS));
  assert.is(controlPlane.fleet.statusOf('tessa'), 'active');
  assert.is(controlPlane.fleet.statusOf('mallory'), undefined);
  assert.is(controlPlane.fleet.size, 1);
  good.stop();
  const events = (await readWorkerEvents(nc)).map(
    (stored) => `${stored.event.workerId}:${stored.event.type}`,
  );
  assert.equal(events, ['tessa:WorkerRegistered']);
});

badInput.run();
