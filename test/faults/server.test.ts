import { setTimeout as sleep } from 'node:timers/promises';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ReadModel } from '../../projections/read-model.js';
import {
  WORKER_EVENTS_STREAM,
  workerEventMessageId,
  workerEventSubject,
} from '../../streams/contracts/subjects.js';
import { encodeWorkerEvent, type WorkerEvent } from '../../streams/contracts/worker-events.js';
import { connectToNats } from '../../streams/nats/connection.js';
import { ensureWorkerEventsStream } from '../../streams/nats/event-streams.js';
import { OrderedPublisher } from '../../streams/nats/ordered-publisher.js';
import { silentLogger } from '../../streams/util/logger.js';
import { runCli } from '../support/cli.js';
import { withTestCluster } from '../support/cluster.js';
import { makeTempDir, waitFor } from '../support/nats.js';
import { readWorkerEvents } from '../support/stream.js';

const TIMEOUT_MS = 1_000;
const INTERVAL_MS = 200;

test('nats-server SIGKILLed and restarted: no acknowledged event lost, everyone reconnects, read model equals a rebuild', async () => {
  await withTestCluster(
    { heartbeatTimeoutMs: TIMEOUT_MS, heartbeatIntervalMs: INTERVAL_MS },
    async (cluster) => {
      const serve = await cluster.startServe();
      const nc = await cluster.connect('workers');
      const workers = ['a', 'b', 'c'].map((id) => cluster.worker(nc, id));
      for (const worker of workers) worker.start();
      await waitFor(
        () => cluster.workers().filter((worker) => worker.status === 'active').length === 3,
        10_000,
        'three active',
      );
      // Some history: b goes away and comes back.
      workers[1]?.stop();
      await waitFor(() => cluster.statusOf('b') === 'inactive', TIMEOUT_MS * 3, 'b inactive');
      workers[1]?.start();
      await waitFor(() => cluster.statusOf('b') === 'active', 5_000, 'b active again');

      // 3 registered, b suspected, inactive and back.
      const acknowledged = await readWorkerEvents(nc);
      assert.is(acknowledged.length, 6);
      const killedAt = Date.now();
      await cluster.restartServer(500);
      await waitFor(() => /NATS connection is back/.test(serve.output()), 15_000, 'serve to reconnect');
      const recoveredMs = Date.now() - killedAt;

      // Workers reconnect by themselves; nobody was declared dead for the outage.
      await sleep(TIMEOUT_MS * 2);
      assert.equal(
        cluster.workers().map((worker) => [worker.workerId, worker.status]),
        [
          ['a', 'active'],
          ['b', 'active'],
          ['c', 'active'],
        ],
      );
      // The projector resumed: a new transition reaches the read model.
      workers[2]?.stop();
      await waitFor(
        () => cluster.statusOf('c') === 'inactive',
        TIMEOUT_MS * 4,
        'c inactive after the restart',
      );

      const after = await readWorkerEvents(nc);
      assert.equal(
        after.slice(0, acknowledged.length),
        acknowledged,
        'every acknowledged event is still there, unchanged',
      );
      assert.equal(
        after.slice(acknowledged.length).map((stored) => `${stored.event.workerId}:${stored.event.type}`),
        ['c:WorkerSuspected', 'c:WorkerInactive'],
        'and nothing but the new transitions were added',
      );

      for (const worker of workers) worker.stop();
      serve.process.kill('SIGTERM');
      assert.equal(await serve.exited, { code: 0, signal: null });

      const fresh = makeTempDir('rebuild');
      try {
        const rebuilt = await runCli(['rebuild', '--data-dir', fresh.path], cluster.env());
        assert.is(rebuilt.code, 0, rebuilt.stderr);
        const rebuiltModel = ReadModel.open({ dataDir: fresh.path, readOnly: true });
        const withoutSamples = (documents: ReturnType<ReadModel['listWorkers']>) =>
          documents.map(({ usage: _usage, lastHeartbeatAt: _lastSeen, ...fromEvents }) => fromEvents);
        assert.equal(withoutSamples(rebuiltModel.listWorkers()), withoutSamples(cluster.workers()));
        assert.is(
          rebuiltModel.position(WORKER_EVENTS_STREAM),
          cluster.readModel().snapshot((view) => view.position(WORKER_EVENTS_STREAM)),
        );
        await rebuiltModel.close();
      } finally {
        fresh.remove();
      }
      process.stdout.write(`  (server outage: services reconnected ${recoveredMs} ms after the kill)\n`);
    },
  );
});

test('graceful shutdown: SIGINT and SIGTERM exit 0 within 5 s with every event applied', async () => {
  await withTestCluster(
    { heartbeatTimeoutMs: TIMEOUT_MS, heartbeatIntervalMs: INTERVAL_MS },
    async (cluster) => {
      const nc = await cluster.connect('workers');
      const workers = Array.from({ length: 20 }, (_, index) => cluster.worker(nc, `w${index}`));
      for (const signal of ['SIGINT', 'SIGTERM'] as const) {
        const serve = await cluster.startServe();
        for (const worker of workers) worker.start();
        await waitFor(
          () => cluster.workers().filter((worker) => worker.status === 'active').length === 20,
          10_000,
          'all active',
        );
        // Stop half of them so that transitions are in flight around the signal.
        for (const worker of workers.slice(0, 10)) worker.stop();
        await sleep(TIMEOUT_MS + 20);
        const signalledAt = Date.now();
        serve.process.kill(signal);
        const exit = await serve.exited;
        const tookMs = Date.now() - signalledAt;
        assert.equal(exit, { code: 0, signal: null }, `${signal}: ${serve.output()}`);
        assert.ok(tookMs < 5_000, `${signal}: exit took ${tookMs} ms`);
        const lastSeq = (await (await jetstreamManager(nc)).streams.info(WORKER_EVENTS_STREAM)).state
          .last_seq;
        assert.is(
          cluster.readModel().snapshot((view) => view.position(WORKER_EVENTS_STREAM)),
          lastSeq,
          `${signal}: everything published was applied before exit`,
        );
        for (const worker of workers) worker.stop();
      }
    },
  );
});

test('events queued while the publisher is cut off are stored once each, in order per worker', async () => {
  await withTestCluster(
    { heartbeatTimeoutMs: TIMEOUT_MS, heartbeatIntervalMs: INTERVAL_MS },
    async (cluster) => {
      const proxy = await cluster.startProxy();
      const admin = await cluster.connect('admin');
      await ensureWorkerEventsStream(await jetstreamManager(admin));
      const nc = await connectToNats({ url: proxy.url, name: 'cut-publisher' });
      const publisher = new OrderedPublisher({ js: jetstream(nc), logger: silentLogger, ackTimeoutMs: 300 });
      const capacity = { cpu: 1, memoryGb: 1, storageGb: 0, gpu: 0 };
      const acknowledged: Array<Promise<number>> = [];
      const publishRound = (from: number, to: number) => {
        for (let seq = from; seq <= to; seq++) {
          for (const workerId of ['k1', 'k2', 'k3']) {
            const event: WorkerEvent = {
              type: 'WorkerCapacityChanged',
              workerId,
              at: seq,
              seq,
              address: `${seq}`,
              capacity,
            };
            acknowledged.push(
              publisher.publish(workerId, {
                subject: workerEventSubject(workerId),
                payload: encodeWorkerEvent(event),
                messageId: workerEventMessageId(workerId, seq),
              }),
            );
          }
        }
      };
      publishRound(1, 20);
      proxy.cut();
      publishRound(21, 60);
      await sleep(1_000);
      proxy.restore();
      await Promise.all(acknowledged);
      assert.ok(publisher.stats.retried > 0, 'the cut forced retries');
      await publisher.close();
      await nc.close();

      const stored = await readWorkerEvents(admin);
      for (const workerId of ['k1', 'k2', 'k3']) {
        assert.equal(
          stored.filter((entry) => entry.event.workerId === workerId).map((entry) => entry.event.seq),
          Array.from({ length: 60 }, (_, index) => index + 1),
          `${workerId}: in order, each once`,
        );
      }
    },
  );
});

test.run();
