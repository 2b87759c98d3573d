import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { controlPlaneIdOf } from '../../control-plane/control-plane-id.js';
import { ALL_PARTITIONS } from '../../streams/contracts/partitions.js';
import { findFreePort } from '../../streams/util/ports.js';
import { runCli, spawnCli, waitUntilServing } from '../support/cli.js';
import { withTestCluster } from '../support/cluster.js';
import { getHealth, scrapeMetrics } from '../support/metrics.js';
import { waitFor } from '../support/nats.js';
import { readWorkerStream } from '../support/stream.js';

const CLUSTER = { heartbeatTimeoutMs: 600, heartbeatIntervalMs: 100 };

test('cloudai serve --metrics-port: Prometheus metrics and /healthz, scraped over HTTP', async () => {
  await withTestCluster(CLUSTER, async (cluster) => {
    const port = await findFreePort();
    const base = `http://127.0.0.1:${port}`;
    const serve = spawnCli(['serve', '--metrics-port', String(port)], {
      ...cluster.env(),
      CLOUDAI_METRICS_HOST: '127.0.0.1',
    });
    try {
      await waitUntilServing(serve, 30_000);
      await waitFor(() => serve.output().includes(`${base}/metrics`), 5_000, 'the metrics URL in the log');
      assert.match(serve.output(), `metrics on 127.0.0.1:${port}: ${base}/metrics and ${base}/healthz`);

      const nc = await cluster.connect('workers');
      const alive = cluster.worker(nc, 'alive');
      const dying = cluster.worker(nc, 'dying');
      alive.start();
      dying.start();
      await waitFor(
        () => cluster.statusOf('alive') === 'active' && cluster.statusOf('dying') === 'active',
        5_000,
        'both active',
      );
      nc.publish('heartbeat.junk', 'this is not JSON');
      await nc.flush();
      dying.stop();
      await waitFor(() => cluster.statusOf('dying') === 'inactive', 5_000, 'dying inactive');

      const queued = await runCli(['task', 'submit', '--image', 'x', '--cpu', '64'], cluster.env());
      assert.match(queued.stdout, /queued/, queued.stdout + queued.stderr);

      const scrape = await scrapeMetrics(base);
      assert.is(scrape.status, 200);
      assert.is(scrape.contentType, 'text/plain; version=0.0.4; charset=utf-8');
      assert.is(scrape.value('cloudai_workers{state="active"}'), 1);
      assert.is(scrape.value('cloudai_workers{state="inactive"}'), 1);
      assert.is(scrape.value('cloudai_workers{state="suspect"}'), 0);
      assert.is(scrape.value('cloudai_workers{state="removed"}'), 0);
      const received = scrape.value('cloudai_heartbeats_received_total');
      assert.ok(received > 2, `${received} heartbeats received`);
      assert.is(scrape.value('cloudai_heartbeats_rejected_total{reason="malformed-json"}'), 1);
      assert.is(scrape.value('cloudai_heartbeats_rejected_total{reason="oversized"}'), 0);
      assert.is(scrape.value('cloudai_heartbeats_rejected_total{reason="subject-mismatch"}'), 0);
      const stored = (await readWorkerStream(nc)).map(({ event }) => event);
      const storedOfType = (type: string) => stored.filter((event) => event.type === type).length;
      assert.is(scrape.value('cloudai_detection_delay_seconds_count{transition="inactive"}'), 1);
      const delay = scrape.value('cloudai_detection_delay_seconds_sum{transition="inactive"}');
      assert.ok(delay >= 0 && delay < 1, `detection delay ${delay} s`);
      // `dying` was suspect before it was inactive.
      const suspicions = scrape.value('cloudai_detection_delay_seconds_count{transition="suspect"}');
      assert.ok(suspicions >= 1);
      assert.is(suspicions, storedOfType('WorkerSuspected'));
      assert.is(scrape.value('cloudai_alerts_published_total{alert="worker-suspect"}'), suspicions);
      // This serve published every event of WORKER_EVENTS: two registrations, a suspicion, an inactive at least.
      assert.ok(stored.length >= 4);
      assert.is(scrape.value('cloudai_worker_events_published_total'), stored.length);
      assert.is(scrape.value('cloudai_worker_events_retried_total'), 0);
      assert.is(scrape.value('cloudai_worker_events_pending'), 0);
      assert.is(scrape.value('cloudai_task_queue_length'), 1);
      assert.is(scrape.value('cloudai_placements_total'), 0);
      assert.is(scrape.value('cloudai_nats_connected'), 1);
      // Alone, this control plane leads everything, and nothing of it was fenced.
      assert.is(scrape.value('cloudai_partitions_held'), ALL_PARTITIONS.length);
      assert.is(scrape.value('cloudai_scheduler_leader'), 1);
      assert.is(scrape.value('cloudai_events_fenced_total'), 0);
      assert.is(scrape.value('cloudai_alerts_published_total{alert="worker-inactive"}'), 1);
      assert.ok(scrape.samples.has('cloudai_projector_lag_events{stream="WORKER_EVENTS"}'));
      assert.ok(scrape.samples.has('cloudai_projector_lag_events{stream="TASKS"}'));
      assert.ok(scrape.samples.has('nodejs_heap_size_used_bytes'), 'the process metrics are there too');
      assert.not.ok(
        scrape.samples.has('cloudai_alert_webhook_retries_total'),
        'no webhook, no webhook metrics',
      );

      // Placed on `alive`, whose publisher of heartbeats is no agent: it never acknowledges.
      const placed = await runCli(['task', 'submit', '--image', 'x', '--cpu', '1'], cluster.env());
      assert.match(
        placed.stdout,
        /no schedulable worker acknowledged it \(alive\)/,
        placed.stdout + placed.stderr,
      );
      assert.is((await scrapeMetrics(base)).value('cloudai_placements_total'), 1);

      await waitFor(
        async () =>
          (await scrapeMetrics(base)).value('cloudai_projector_lag_events{stream="WORKER_EVENTS"}') === 0,
        2_000,
        'the read model caught up',
      );
      const healthy = await getHealth(base);
      assert.is(healthy.status, 200);
      const report = healthy.body as {
        ok: boolean;
        nats: string;
        projector: { lag: number; streams: Array<{ stream: string; lastSeq: number; applied: number }> };
        problems: string[];
        roles: { controlPlaneId: string; partitions: number[]; scheduler: boolean } | null;
      };
      assert.is(report.ok, true);
      assert.equal(report.roles, {
        controlPlaneId: controlPlaneIdOf(cluster.env().CLOUDAI_DATA_DIR as string),
        partitions: [...ALL_PARTITIONS],
        scheduler: true,
      });
      assert.is(report.nats, 'connected');
      assert.equal(report.problems, []);
      const workerStream = report.projector.streams.find((stream) => stream.stream === 'WORKER_EVENTS');
      assert.ok((workerStream?.lastSeq ?? 0) >= 3);
      assert.is(workerStream?.applied, workerStream?.lastSeq);

      assert.is((await fetch(`${base}/elsewhere`)).status, 404);
      assert.is((await fetch(`${base}/metrics`, { method: 'POST' })).status, 405);

      await cluster.server.stop();
      await waitFor(async () => (await getHealth(base)).status === 503, 5_000, '/healthz to turn 503');
      const unhealthy = (await getHealth(base)).body as { ok: boolean; nats: string; problems: string[] };
      assert.is(unhealthy.ok, false);
      assert.is(unhealthy.nats, 'disconnected');
      assert.match(unhealthy.problems[0] ?? '', /^not connected to NATS/);
      const offline = await scrapeMetrics(base);
      assert.is(offline.value('cloudai_nats_connected'), 0);
      assert.not.ok(
        offline.samples.has('cloudai_projector_lag_events{stream="WORKER_EVENTS"}'),
        'lag unknown',
      );
      assert.is(offline.value('cloudai_workers{state="active"}'), 1, 'the fleet is still counted');
    } finally {
      serve.process.kill('SIGKILL');
      await serve.exited;
    }
  });
});

test('a metrics port that is taken stops serve at start, with a clear error', async () => {
  await withTestCluster(CLUSTER, async (cluster) => {
    const taken = spawnCli(['serve', '--metrics-port', String(await findFreePort())], {
      ...cluster.env(),
      CLOUDAI_METRICS_HOST: '127.0.0.1',
    });
    try {
      await waitFor(() => /metrics on 127\.0\.0\.1:(\d+)/.test(taken.output()), 30_000, 'the first serve');
      const port = /metrics on 127\.0\.0\.1:(\d+)/.exec(taken.output())?.[1] as string;
      const second = await runCli(['serve', '--metrics-port', port], {
        ...cluster.env(),
        CLOUDAI_METRICS_HOST: '127.0.0.1',
      });
      assert.is(second.code, 1);
      assert.match(
        second.stderr,
        `cloudai: metrics port 127.0.0.1:${port} is already in use: choose another with --metrics-port`,
      );
    } finally {
      taken.process.kill('SIGKILL');
      await taken.exited;
    }
  });
});

test.run();
