import { setTimeout as sleep } from 'node:timers/promises';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { ControlPlane } from '../../control-plane/control-plane.js';
import { encodeHeartbeat } from '../../streams/contracts/heartbeat.js';
import { TestCluster } from '../support/cluster.js';
import { waitFor } from '../support/nats.js';
import { readWorkerEvents } from '../support/stream.js';

const HEARTBEAT_TIMEOUT_MS = 400;

interface Context {
  cluster: TestCluster;
  controlPlane: ControlPlane;
}

const badInput = suite<Context>('bad heartbeats are rejected and counted; good workers keep being served');

badInput.before(async (context) => {
  context.cluster = await TestCluster.start({
    heartbeatTimeoutMs: HEARTBEAT_TIMEOUT_MS,
    heartbeatIntervalMs: 100,
  });
  context.controlPlane = await context.cluster.startControlPlane();
});

badInput.after(async (context) => {
  await context.controlPlane?.close();
  await context.cluster?.close();
});

badInput('malformed JSON, wrong types, spoofed ids, illegal ids and a 1 MiB payload', async (context) => {
  const { cluster, controlPlane } = context;
  const nc = await cluster.connect('test-bad-input');
  const good = cluster.worker(nc, 'tessa');
  good.start();
  await waitFor(() => cluster.statusOf('tessa') === 'active', 5_000, 'tessa active');

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
    await sleep(20);
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
  await sleep(HEARTBEAT_TIMEOUT_MS);
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
