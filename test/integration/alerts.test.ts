import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { resolveClientConfig, resolveConfig } from '../../cli/config.js';
import { ControlPlane } from '../../control-plane/control-plane.js';
import { type Alert, alertOf, decodeAlert, isAlertingEvent } from '../../streams/contracts/alerts.js';
import { ALERTS_WILDCARD } from '../../streams/contracts/subjects.js';
import type { WorkerStreamEvent } from '../../streams/contracts/worker-events.js';
import { silentLogger } from '../../streams/util/logger.js';
import { type TestCluster, withTestCluster } from '../support/cluster.js';
import { parseExposition } from '../support/metrics.js';
import { waitFor } from '../support/nats.js';
import { readWorkerStream } from '../support/stream.js';
import { WebhookReceiver } from '../support/webhook-receiver.js';

const HEARTBEAT_TIMEOUT_MS = 600;
const HEARTBEAT_INTERVAL_MS = 100;
const CLUSTER = { heartbeatTimeoutMs: HEARTBEAT_TIMEOUT_MS, heartbeatIntervalMs: HEARTBEAT_INTERVAL_MS };

const alerts = suite('alerts on NATS and to the webhook (real nats-server, real HTTP server)');

interface StoredAt {
  event: WorkerStreamEvent;
  storedAt: number;
}

/** The control plane in this process, with the given webhook, noting when each event is stored. */
function startControlPlane(
  cluster: TestCluster,
  alertWebhook = '',
  stored: StoredAt[] = [],
): Promise<ControlPlane> {
  return ControlPlane.start({
    settings: resolveConfig(
      {
        natsUrl: cluster.server.url,
        dataDir: cluster.dataDir.path,
        heartbeatTimeoutMs: HEARTBEAT_TIMEOUT_MS,
        heartbeatIntervalMs: HEARTBEAT_INTERVAL_MS,
        alertWebhook,
      },
      {},
    ),
    logger: () => silentLogger,
    onEventStored: (event) => stored.push({ event, storedAt: Date.now() }),
  });
}

/** Every alert published on `alerts.>` from now on, with its subject, as it arrives. */
async function listen(cluster: TestCluster): Promise<Array<{ subject: string; alert: Alert }>> {
  const nc = await cluster.connect('alert-listener');
  const heard: Array<{ subject: string; alert: Alert }> = [];
  nc.subscribe(ALERTS_WILDCARD, {
    callback: (error, msg) => {
      if (error) throw error;
      const decoded = decodeAlert(msg.data);
      if (!decoded.ok) throw new Error(`undecodable alert on ${msg.subject}: ${decoded.detail}`);
      heard.push({ subject: msg.subject, alert: decoded.value });
    },
  });
  await nc.flush();
  return heard;
}

alerts(
  'a subscriber on alerts.> hears a worker turn suspect, inactive and come back, after each event is stored',
  async () => {
    await withTestCluster(CLUSTER, async (cluster) => {
      const controlPlane = await startControlPlane(cluster);
      try {
        const heard = await listen(cluster);
        const nc = await cluster.connect('worker');
        const tessa = cluster.worker(nc, 'tessa');
        tessa.start();
        await waitFor(() => cluster.statusOf('tessa') === 'active', 5_000, 'tessa active');
        tessa.stop();
        await waitFor(
          () => heard.some(({ alert }) => alert.alert === 'worker-inactive'),
          HEARTBEAT_TIMEOUT_MS + 2_000,
          'the inactive alert',
        );
        tessa.start();
        await waitFor(
          () => heard.some(({ alert }) => alert.alert === 'worker-active'),
          2_000,
          'the active alert',
        );

        // One alert per alerting event in the stream, in the same order, and none for the registration.
        const stored = (await readWorkerStream(nc)).map(({ event }) => event);
        const alerting = stored.filter(isAlertingEvent);
        assert.equal(
          heard.map(({ alert }) => alert.event),
          alerting,
        );
        assert.ok(
          stored.some((event) => event.type === 'WorkerRegistered'),
          'the registration is stored, and raised no alert',
        );
        for (const { subject, alert } of heard) {
          assert.is(subject, 'alerts.workers.tessa');
          assert.is(alert.workerId, 'tessa');
          assert.equal(alert, { ...alertOf(alert.event, alert.raisedAt) });
          assert.ok(alert.raisedAt >= alert.event.at, 'raised after the change happened');
        }
        // Late, then gone, then back, in that order (beating steadily again, tessa raises nothing more).
        const kinds = heard.map(({ alert }) => alert.alert);
        const suspectAt = kinds.indexOf('worker-suspect');
        assert.ok(suspectAt >= 0, kinds.join(', '));
        assert.ok(suspectAt < kinds.indexOf('worker-inactive'), kinds.join(', '));
        assert.ok(kinds.indexOf('worker-inactive') < kinds.indexOf('worker-active'), kinds.join(', '));
        const suspect = heard[suspectAt]?.alert;
        assert.is(suspect?.event.type, 'WorkerSuspected');
        assert.match(suspect?.summary ?? '', /^worker tessa is suspect: no heartbeat for 0\.\d s \(/);
        const inactive = heard.find(({ alert }) => alert.alert === 'worker-inactive')?.alert;
        const active = heard.find(({ alert }) => alert.alert === 'worker-active')?.alert;
        assert.is(inactive?.event.type, 'WorkerInactive');
        assert.match(inactive?.summary ?? '', /^worker tessa is inactive: no heartbeat for 0\.\d s/);
        assert.is(active?.event.type, 'WorkerActivated');
        assert.match(active?.summary ?? '', /^worker tessa is active again/);
        assert.is(controlPlane.alerts.published['worker-inactive'], 1);
        assert.is(controlPlane.alerts.published['worker-active'], 1);
      } finally {
        await controlPlane.close();
      }
    });
  },
);

alerts(
  'a fleet-wide silence raises disruption-started, and its end disruption-ended, on alerts.fleet.disruption',
  async () => {
    await withTestCluster(CLUSTER, async (cluster) => {
      const controlPlane = await startControlPlane(cluster);
      try {
        const heard = await listen(cluster);
        const nc = await cluster.connect('workers');
        const ids = ['a', 'b', 'c'];
        const workers = ids.map((id) => cluster.worker(nc, id));
        for (const worker of workers) worker.start();
        await waitFor(
          () => ids.every((id) => cluster.statusOf(id) === 'active'),
          5_000,
          'three workers active',
        );
        for (const worker of workers) worker.stop();
        await waitFor(
          () => heard.some(({ alert }) => alert.alert === 'disruption-started'),
          HEARTBEAT_TIMEOUT_MS + 2_000,
          'the disruption alert',
        );
        for (const worker of workers) worker.start();
        await waitFor(
          () => heard.some(({ alert }) => alert.alert === 'disruption-ended'),
          2_000,
          'the end of the disruption',
        );

        const fleetWide = heard.filter(({ subject }) => subject === 'alerts.fleet.disruption');
        assert.equal(
          fleetWide.map(({ alert }) => alert.alert),
          ['disruption-started', 'disruption-ended'],
        );
        const [started, ended] = fleetWide.map(({ alert }) => alert);
        assert.is(started?.workerId, undefined);
        assert.equal(started?.event, {
          type: 'DisruptionStarted',
          at: started?.event.at,
          seq: 1,
          unhealthyWorkers: 3,
          consideredWorkers: 3,
          thresholdPercent: 55,
          controlPlane: controlPlane.leases.controlPlaneId,
        });
        assert.match(started?.summary ?? '', /^disruption mode started: 3 of 3 workers went silent/);
        assert.is(ended?.event.type === 'DisruptionEnded' && ended.event.endedBy, 'heartbeats');
        // Nobody was declared inactive while the fleet doubted its view.
        assert.not.ok(heard.some(({ alert }) => alert.alert === 'worker-inactive'));
      } finally {
        await controlPlane.close();
      }
    });
  },
);

alerts('the webhook receives each alert as JSON, the same as on NATS', async () => {
  await withTestCluster(CLUSTER, async (cluster) => {
    const receiver = await WebhookReceiver.start(() => 204);
    const controlPlane = await startControlPlane(cluster, receiver.url);
    try {
      const heard = await listen(cluster);
      const nc = await cluster.connect('worker');
      const kim = cluster.worker(nc, 'kim');
      kim.start();
      await waitFor(() => cluster.statusOf('kim') === 'active', 5_000, 'kim active');
      kim.stop();
      await waitFor(
        () => receiver.bodies().some((body) => (body as Alert).alert === 'worker-inactive'),
        HEARTBEAT_TIMEOUT_MS + 2_000,
        'the inactive alert at the webhook',
      );
      await waitFor(() => heard.length === receiver.requests.length, 1_000, 'as many alerts on NATS');

      for (const request of receiver.requests) {
        assert.is(request.method, 'POST');
        assert.is(request.headers['content-type'], 'application/json');
      }
      // Deliveries run side by side, so they may arrive in another order than on NATS.
      const byEvent = (a: Alert, b: Alert) => a.event.seq - b.event.seq;
      assert.equal(
        (receiver.bodies() as Alert[]).sort(byEvent),
        heard.map(({ alert }) => alert).sort(byEvent),
      );
      // The receiver records a request before the sender has read its answer: wait for the answers.
      await waitFor(
        () => controlPlane.alerts.webhook?.stats.delivered === receiver.requests.length,
        2_000,
        'the sender to count every delivery',
      );
      assert.is(controlPlane.alerts.webhook?.stats.delivered, receiver.requests.length);
      const samples = parseExposition(await controlPlane.metrics.text());
      assert.is(
        samples.get('cloudai_alert_webhook_deliveries_total{outcome="delivered"}'),
        receiver.requests.length,
      );
      assert.is(samples.get('cloudai_alert_webhook_deliveries_total{outcome="failed"}'), 0);
      assert.is(samples.get('cloudai_alert_webhook_retries_total'), 0);
      assert.is(samples.get('cloudai_alert_webhook_queue_length'), 0);
    } finally {
      await controlPlane.close();
      await receiver.close();
    }
  });
});

alerts('a webhook that never answers does not slow the fleet', async () => {
  await withTestCluster(CLUSTER, async (cluster) => {
    const receiver = await WebhookReceiver.start(() => 'never');
    const stored: StoredAt[] = [];
    const controlPlane = await startControlPlane(cluster, receiver.url, stored);
    let closed = false;
    try {
      const nc = await cluster.connect('workers');
      const [first, second, steady] = ['first', 'second', 'steady'].map((id) => cluster.worker(nc, id));
      for (const worker of [first, second, steady]) worker?.start();
      await waitFor(
        () => ['first', 'second', 'steady'].every((id) => cluster.statusOf(id) === 'active'),
        5_000,
        'three workers active',
      );
      first?.stop();
      await waitFor(() => receiver.requests.length >= 1, HEARTBEAT_TIMEOUT_MS + 2_000, 'a hanging request');

      // The webhook now holds a request it will never get an answer to.
      const acceptedBefore = controlPlane.intake.accepted.count;
      second?.stop();
      const secondStoppedAt = Date.now();
      await waitFor(
        () => stored.some(({ event }) => event.type === 'WorkerInactive' && event.workerId === 'second'),
        HEARTBEAT_TIMEOUT_MS + 2_000,
        "second's WorkerInactive stored",
      );
      const inactive = stored.find(
        ({ event }) => event.type === 'WorkerInactive' && event.workerId === 'second',
      ) as StoredAt;
      // Stored within moments of its countdown's end (tens of ms here; 500 ms is generous)…
      assert.ok(
        inactive.storedAt - inactive.event.at < 500,
        `stored ${inactive.storedAt - inactive.event.at} ms after the worker went inactive`,
      );
      // …which came one timeout after its last heartbeat.
      assert.ok(inactive.storedAt - secondStoppedAt < HEARTBEAT_TIMEOUT_MS + 500);
      // Heartbeats kept being taken: the steady worker's, ten a second.
      assert.ok(
        controlPlane.intake.accepted.count - acceptedBefore >= 3,
        `${controlPlane.intake.accepted.count - acceptedBefore} heartbeats taken meanwhile`,
      );
      assert.is(cluster.statusOf('steady'), 'active');
      assert.is(controlPlane.alerts.webhook?.stats.delivered, 0);

      steady?.stop();
      const closing = Date.now();
      closed = true;
      await controlPlane.close();
      // Shutdown waits for the hanging delivery only briefly.
      assert.ok(Date.now() - closing < 5_000, `close took ${Date.now() - closing} ms`);
      assert.ok((controlPlane.alerts.webhook?.stats.abandoned ?? 0) >= 1);
    } finally {
      if (!closed) await controlPlane.close();
      await receiver.close();
    }
  });
});

alerts(
  'a worker held at its timeout by disruption mode is logged and alerted as held, not as past a grace',
  async () => {
    await withTestCluster(CLUSTER, async (cluster) => {
      const lines: string[] = [];
      const controlPlane = await ControlPlane.start({
        // Nobody is suspect before the timeout (the CLI refuses such a grace; the fleet takes it).
        settings: resolveClientConfig(
          {
            natsUrl: cluster.server.url,
            dataDir: cluster.dataDir.path,
            heartbeatTimeoutMs: HEARTBEAT_TIMEOUT_MS,
            heartbeatIntervalMs: HEARTBEAT_INTERVAL_MS,
            suspectAfterMs: 10 * HEARTBEAT_TIMEOUT_MS,
            phiMinSamples: 1_000_000,
          },
          {},
        ),
        logger: () => ({ info: (line) => lines.push(line), warn: (line) => lines.push(line), error() {} }),
      });
      try {
        const heard = await listen(cluster);
        const nc = await cluster.connect('workers');
        const workers = ['w1', 'w2', 'w3', 'w4'].map((workerId) => cluster.worker(nc, workerId));
        for (const worker of workers) worker.start();
        await waitFor(
          () => ['w1', 'w2', 'w3', 'w4'].every((workerId) => cluster.statusOf(workerId) === 'active'),
          5_000,
          'four active',
        );
        for (const worker of workers.slice(1)) worker.stop();
        // The first two to time out are declared inactive; the third makes 3 of 4 and is held.
        await waitFor(
          () => heard.some(({ alert }) => alert.alert === 'worker-suspect'),
          HEARTBEAT_TIMEOUT_MS + 2_000,
          'one held',
        );
        const suspects = heard.filter(({ alert }) => alert.alert === 'worker-suspect');
        for (const { alert } of suspects) {
          assert.match(
            alert.summary,
            /^worker w[234] is held suspect by disruption mode: no heartbeat for 0\.6 s, its timeout; it keeps its tasks but gets no new ones until the mode ends$/,
          );
        }
        const held = lines.filter((line) => / is held suspect by disruption mode: /.test(line));
        assert.is(held.length, suspects.length, lines.join('\n'));
        assert.match(held[0] ?? '', /no heartbeat for 0\.6 s, its timeout; it keeps its tasks/);
        assert.not.ok(
          lines.some((line) => /grace/.test(line)),
          lines.join('\n'),
        );
        workers[0]?.stop();
        await nc.close();
      } finally {
        await controlPlane.close();
      }
    });
  },
);

alerts.run();
