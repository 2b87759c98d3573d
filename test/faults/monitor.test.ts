import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { WorkerEvent } from '../../streams/contracts/worker-events.js';
import { withTestCluster } from '../support/cluster.js';
import { waitFor } from '../support/nats.js';
import { readWorkerEvents } from '../support/stream.js';

const TIMEOUT_MS = 1_000;
const INTERVAL_MS = 200;

function eventsByWorker(events: WorkerEvent[]): Map<string, WorkerEvent[]> {
  const byWorker = new Map<string, WorkerEvent[]>();
  for (const event of events) byWorker.set(event.workerId, [...(byWorker.get(event.workerId) ?? []), event]);
  return byWorker;
}

function assertSeqsContinuous(events: WorkerEvent[]): void {
  for (const [workerId, own] of eventsByWorker(events)) {
    assert.equal(
      own.map((event) => event.seq),
      own.map((_, index) => index + 1),
      `${workerId}: event numbers reused or skipped`,
    );
  }
}

test('monitor SIGKILLed and restarted: no false inactive, the gone worker times out one timeout after the restart', async () => {
  await withTestCluster(
    { heartbeatTimeoutMs: TIMEOUT_MS, heartbeatIntervalMs: INTERVAL_MS },
    async (cluster) => {
      const serve = await cluster.startServe();
      const nc = await cluster.connect('workers');
      const alive = cluster.worker(nc, 'alive');
      const doomed = cluster.worker(nc, 'doomed');
      alive.start();
      doomed.start();
      await waitFor(
        () => cluster.statusOf('alive') === 'active' && cluster.statusOf('doomed') === 'active',
        10_000,
        'both active',
      );

      serve.process.kill('SIGKILL');
      await serve.exited;
      doomed.stop();
      const doomedStoppedAt = Date.now();
      // The monitor stays down for longer than the timeout: silence it could not hear.
      await sleep(TIMEOUT_MS * 2);

      const restarted = await cluster.startServe();
      await waitFor(
        () => cluster.statusOf('doomed') === 'inactive',
        TIMEOUT_MS * 4,
        'doomed inactive after the restart',
      );
      await sleep(TIMEOUT_MS);
      assert.is(cluster.statusOf('alive'), 'active');

      const events = (await readWorkerEvents(nc)).map((stored) => stored.event);
      const byWorker = eventsByWorker(events);
      assert.equal(
        byWorker.get('alive')?.map((event) => event.type),
        ['WorkerRegistered'],
        'the worker that kept beating was never marked inactive',
      );
      const doomedEvents = byWorker.get('doomed') ?? [];
      assert.equal(
        doomedEvents.map((event) => event.type),
        ['WorkerRegistered', 'WorkerSuspected', 'WorkerInactive'],
      );
      const inactiveAt = doomedEvents[2]?.at ?? 0;
      assert.ok(
        inactiveAt - doomedStoppedAt >= TIMEOUT_MS * 2,
        'not declared inactive for the time the monitor was down',
      );
      // One timeout after the restart (the restore happens just before serve says it is serving).
      assert.ok(
        inactiveAt <= restarted.readyAt + TIMEOUT_MS + 250,
        `inactive at ${inactiveAt - restarted.readyAt} ms after restart`,
      );
      assert.ok(
        inactiveAt >= restarted.readyAt + TIMEOUT_MS - 1_000,
        `inactive too soon: ${inactiveAt - restarted.readyAt} ms`,
      );

      // A second crash later: numbering continues without reuse or gaps.
      alive.stop();
      await waitFor(() => cluster.statusOf('alive') === 'inactive', TIMEOUT_MS * 3, 'alive inactive');
      restarted.process.kill('SIGKILL');
      await restarted.exited;
      await cluster.startServe();
      alive.start();
      doomed.start();
      await waitFor(
        () => cluster.statusOf('alive') === 'active' && cluster.statusOf('doomed') === 'active',
        10_000,
        'both back',
      );
      alive.stop();
      doomed.stop();
      const all = (await readWorkerEvents(nc)).map((stored) => stored.event);
      assertSeqsContinuous(all);
      assert.equal(
        eventsByWorker(all)
          .get('alive')
          ?.map((event) => event.type),
        ['WorkerRegistered', 'WorkerSuspected', 'WorkerInactive', 'WorkerActivated'],
      );
    },
  );
});

test('monitor loses NATS: timers pause, no false inactive, a worker gone meanwhile times out after reconnect', async () => {
  await withTestCluster(
    { heartbeatTimeoutMs: TIMEOUT_MS, heartbeatIntervalMs: INTERVAL_MS },
    async (cluster) => {
      const proxy = await cluster.startProxy();
      // Only the monitor's connection goes through the proxy; the workers reach the server directly.
      const serve = await cluster.startServe(proxy.url);
      const nc = await cluster.connect('workers');
      const steady = cluster.worker(nc, 'steady');
      const leaving = cluster.worker(nc, 'leaving');
      steady.start();
      leaving.start();
      await waitFor(
        () => cluster.statusOf('steady') === 'active' && cluster.statusOf('leaving') === 'active',
        10_000,
        'both active',
      );

      proxy.cut();
      await waitFor(
        () => /lost the NATS connection/.test(serve.output()),
        5_000,
        'serve to notice the partition',
      );
      leaving.stop();
      await sleep(TIMEOUT_MS * 3);
      proxy.restore();
      await waitFor(() => /NATS connection is back/.test(serve.output()), 10_000, 'serve to reconnect');
      const reconnectedAt = Date.now();

      await waitFor(
        () => cluster.statusOf('leaving') === 'inactive',
        TIMEOUT_MS * 4,
        'leaving inactive after reconnect',
      );
      await sleep(TIMEOUT_MS);
      assert.is(cluster.statusOf('steady'), 'active');
      const events = (await readWorkerEvents(nc)).map((stored) => stored.event);
      const byWorker = eventsByWorker(events);
      assert.equal(
        byWorker.get('steady')?.map((event) => event.type),
        ['WorkerRegistered'],
      );
      const inactive = byWorker.get('leaving')?.find((event) => event.type === 'WorkerInactive');
      assert.ok(inactive, 'leaving was declared inactive');
      assert.ok(
        (inactive?.at ?? 0) >= reconnectedAt - 500 + TIMEOUT_MS - 500,
        'not before a full timeout after reconnect',
      );
      assertSeqsContinuous(events);
      steady.stop();
    },
  );
});

test.run();
