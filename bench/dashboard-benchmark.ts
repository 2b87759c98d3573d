import { request } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { WorkersMessage } from '../control-plane/dashboard/api-types.js';
import { ReadModel } from '../projections/read-model.js';
import { WORKER_EVENTS_STREAM } from '../streams/contracts/subjects.js';
import { BENCH_WORKER_PREFIX, workerIdFor } from './load/load-protocol.js';
import type { Benchmark } from './registry.js';
import { CHROMIUM_PATH, chromiumInstalled, launchChromium } from './support/chromium.js';
import { startBenchControlPlane } from './support/control-plane.js';
import { fillReadModel } from './support/read-model-fill.js';
import type { BenchParams, BenchReport, Figure } from './support/report.js';
import type { BenchResources } from './support/resources.js';
import { type Distribution, distribution, ratio, round } from './support/stats.js';

/** Open pages the push is measured against, as the issue asks. */
const OPEN_PAGES = 50;
const PAGE_SIZE = 50;

export const dashboardBenchmark: Benchmark = {
  name: 'dashboard',
  summary:
    "the dashboard's page API at N workers (first page, filtered page, search; p50/p99) against one LMDB read of the same documents, and the cost of pushing one state change to 50 open pages",
  defaults: { workers: 100_000, seconds: 0 },
  quick: { workers: 5_000, seconds: 0 },
  run: runDashboard,
};

async function runDashboard(
  params: BenchParams,
  resources: BenchResources,
  progress: (line: string) => void,
): Promise<BenchReport> {
  const requests = params.quick ? 40 : 300;
  const dataDir = resources.tempDir('data');
  progress(`writing ${params.workers} worker documents to the read model`);
  await fillReadModel(dataDir, params.workers);
  // The stream of this run starts empty: its events must not look already applied.
  const filled = ReadModel.open({ dataDir });
  await filled.write(() => filled.setPosition(WORKER_EVENTS_STREAM, 0));
  await filled.close();
  const server = await resources.natsServer();
  const started = performance.now();
  const { controlPlane } = await startBenchControlPlane(resources, {
    natsUrl: server.url,
    dataDir,
    // Long: no worker heartbeats here, and none may turn suspect or inactive while the pages are read.
    heartbeatTimeoutMs: 3_600_000,
    heartbeatIntervalMs: 5_000,
    overrides: { httpPort: await freeLoopbackPort(), suspectAfterMs: 3_000_000 },
  });
  const dashboard = controlPlane.dashboard;
  if (!dashboard) throw new Error('the control plane started without its dashboard');
  progress(`control plane with its dashboard up in ${round(performance.now() - started, 0)} ms`);
  const agent = { host: '127.0.0.1', port: dashboard.port };

  // The same documents, read straight from LMDB by a reader of its own (as `cloudai workers` is).
  const reader = ReadModel.open({ dataDir, readOnly: true });
  resources.defer('read-only read model', () => reader.close());
  // An active worker (one in ten is inactive, those of index 0 mod 10): a cordon of it is an event.
  const middleId = workerIdFor(BENCH_WORKER_PREFIX, Math.floor(params.workers / 2) + 1);
  const search = middleId.slice(-4);
  const lmdbRead = timeEach(requests, () => {
    reader.snapshot((view) => {
      let read = 0;
      for (const _entry of view.workers.getRange({ limit: PAGE_SIZE })) read++;
      return read;
    });
  });
  const pages: Array<{ key: string; label: string; path: string }> = [
    { key: 'firstPage', label: 'first page', path: `/api/workers?size=${PAGE_SIZE}` },
    {
      key: 'filteredPage',
      label: 'filtered page (inactive, page 5)',
      path: `/api/workers?size=${PAGE_SIZE}&status=inactive&page=5`,
    },
    { key: 'search', label: `search "${search}"`, path: `/api/workers?size=${PAGE_SIZE}&search=${search}` },
    {
      key: 'sortedPage',
      label: 'page sorted by last seen',
      path: `/api/workers?size=${PAGE_SIZE}&sort=-lastSeen`,
    },
  ];
  // The control plane has just started (a fleet of N restored, the scheduler's first pass): let it settle.
  const settleUntil = performance.now() + (params.quick ? 500 : 3_000);
  while (performance.now() < settleUntil) await get(agent, '/api/workers');
  const figures: Figure[] = [];
  const lmdbBaseline = { label: `LMDB read of ${PAGE_SIZE} documents, p50`, value: round(lmdbRead.p50, 3) };
  figures.push({
    key: 'lmdbPageReadP50Ms',
    label: lmdbBaseline.label,
    value: lmdbBaseline.value,
    unit: 'ms',
  });
  for (const page of pages) {
    for (let warm = 0; warm < 20; warm++) await get(agent, page.path);
    const samples: number[] = [];
    for (let index = 0; index < requests; index++) {
      const begin = performance.now();
      const body = await get(agent, page.path);
      samples.push(performance.now() - begin);
      if (index === 0 && (JSON.parse(body) as { workers: unknown[] }).workers.length === 0) {
        throw new Error(`${page.path} returned no workers`);
      }
    }
    const latency = distribution(samples);
    progress(`${page.label}: p50 ${round(latency.p50, 2)} ms, p99 ${round(latency.p99, 2)} ms`);
    figures.push(latencyFigure(`${page.key}P50Ms`, `GET ${page.label}, p50`, latency.p50, lmdbBaseline));
    figures.push(latencyFigure(`${page.key}P99Ms`, `GET ${page.label}, p99`, latency.p99, lmdbBaseline));
  }

  // One state change pushed to 50 open pages: the broadcast itself, against serialising it once.
  const streams = await Promise.all(Array.from({ length: OPEN_PAGES }, () => openEventStream(agent)));
  resources.defer('event streams', () => {
    for (const stream of streams) stream.close();
  });
  const message: WorkersMessage = {
    summary: dashboard.index.summary,
    disruption: dashboard.index.disruption,
    // Not a worker of the fleet: the pages' waits below are for the real changes only.
    events: [{ type: 'WorkerCordoned', workerId: 'not-in-the-fleet', at: Date.now(), seq: 2 }],
    workers: [],
    now: Date.now(),
  };
  const serialise = timeEach(requests, () => JSON.stringify(message));
  const broadcast = timeEach(requests, () => dashboard.hub.broadcast('workers', message));
  progress(`broadcast to ${OPEN_PAGES} pages: p50 ${round(broadcast.p50, 3)} ms`);
  // End to end: an operator's cordon, until every open page has the frame, against until the read model has it.
  const appliedSamples: number[] = [];
  const deliveredSamples: number[] = [];
  const changes = params.quick ? 6 : 30;
  for (let change = 0; change < changes; change++) {
    const seen = streams.map((stream) => stream.next('workers', `"workerId":"${middleId}"`));
    const begin = performance.now();
    const reply = await controlPlane.operatorApi.act(change % 2 === 0 ? 'cordon' : 'uncordon', middleId);
    if (!reply.ok) throw new Error(reply.error);
    appliedSamples.push(performance.now() - begin);
    await Promise.all(seen);
    deliveredSamples.push(performance.now() - begin);
  }
  const applied = distribution(appliedSamples);
  const delivered = distribution(deliveredSamples);
  progress(
    `cordon → ${OPEN_PAGES} pages: p50 ${round(delivered.p50, 2)} ms (applied: ${round(applied.p50, 2)} ms)`,
  );
  figures.push(
    latencyFigure(
      'pushTo50PagesP50Ms',
      `broadcast of one change to ${OPEN_PAGES} pages, p50`,
      broadcast.p50,
      {
        label: 'serialising it once, p50',
        value: round(serialise.p50, 4),
      },
    ),
    latencyFigure(
      'pushTo50PagesP99Ms',
      `broadcast of one change to ${OPEN_PAGES} pages, p99`,
      broadcast.p99,
      {
        label: 'serialising it once, p99',
        value: round(serialise.p99, 4),
      },
    ),
    latencyFigure('cordonToPagesP50Ms', `cordon until ${OPEN_PAGES} pages have it, p50`, delivered.p50, {
      label: 'cordon until the read model has it, p50',
      value: round(applied.p50, 2),
    }),
  );
  const notes: string[] = [];
  if (chromiumInstalled()) {
    // What a person waits for: the fleet page opened in Chromium until its table shows, against
    // the same browser loading one static file of the same server.
    const { browser, close } = await launchChromium();
    resources.defer('chromium', close);
    const page = await browser.newPage();
    const paints: number[] = [];
    const statics: number[] = [];
    for (let run = 0; run < (params.quick ? 2 : 5); run++) {
      let begin = performance.now();
      await page.goto(`${dashboard.url}/app.css`);
      statics.push(performance.now() - begin);
      begin = performance.now();
      await page.goto(`${dashboard.url}/`);
      await page.waitForSelector('#workers tbody tr', { timeout: 30_000 });
      paints.push(performance.now() - begin);
    }
    const paint = distribution(paints);
    progress(`fleet page in Chromium: table shown after ${round(paint.p50, 0)} ms (p50)`);
    figures.push({
      ...latencyFigure('firstPaintP50Ms', 'fleet page opened until its table shows, p50', paint.p50, {
        label: 'a static file of the same server, p50',
        value: round(distribution(statics).p50, 2),
      }),
      target: { text: '< 2000 ms', met: params.workers >= 100_000 ? paint.p50 < 2_000 : undefined },
    });
  } else {
    notes.push(`no Chromium at ${CHROMIUM_PATH}: the first paint is not measured`);
  }
  return {
    benchmark: 'dashboard',
    params: { ...params, requests, openPages: OPEN_PAGES, pageSize: PAGE_SIZE },
    figures,
    notes: [
      ...notes,
      'page API: HTTP over one keep-alive connection on loopback, the client in the same process',
      `LMDB baseline: ${PAGE_SIZE} documents read in id order by a read-only reader in this process`,
      `push: ${OPEN_PAGES} open /api/events streams; broadcast timed inside the server, serialisation included`,
    ],
  };
}

function latencyFigure(
  key: string,
  label: string,
  value: number,
  baseline: { label: string; value: number },
): Figure {
  return { key, label, value: round(value, 3), unit: 'ms', baseline, ratio: ratio(value, baseline.value) };
}

function timeEach(times: number, work: () => unknown): Distribution {
  const samples: number[] = [];
  for (let index = 0; index < times; index++) {
    const begin = performance.now();
    work();
    samples.push(performance.now() - begin);
  }
  return distribution(samples);
}

interface Target {
  host: string;
  port: number;
}

function get(target: Target, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const outgoing = request({ ...target, path, method: 'GET' }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => {
        body += chunk;
      });
      response.on('end', () =>
        response.statusCode === 200
          ? resolve(body)
          : reject(new Error(`${path}: ${response.statusCode} ${body}`)),
      );
    });
    outgoing.on('error', reject);
    outgoing.end();
  });
}

/** An open `/api/events` stream, as a page holds it: `next` resolves at the next event of that type holding `needle`. */
async function openEventStream(
  target: Target,
): Promise<{ next: (type: string, needle: string) => Promise<void>; close: () => void }> {
  return new Promise((resolve, reject) => {
    const waiting: Array<{ type: string; needle: string; resolve: () => void }> = [];
    const outgoing = request({ ...target, path: '/api/events', method: 'GET' }, (response) => {
      response.setEncoding('utf8');
      let buffered = '';
      response.on('data', (chunk: string) => {
        buffered += chunk;
        let end = buffered.indexOf('\n\n');
        while (end >= 0) {
          const frame = buffered.slice(0, end);
          buffered = buffered.slice(end + 2);
          const type = /^event: (.+)$/m.exec(frame)?.[1];
          for (const waiter of waiting.splice(0)) {
            if (waiter.type === type && frame.includes(waiter.needle)) waiter.resolve();
            else waiting.push(waiter);
          }
          end = buffered.indexOf('\n\n');
        }
      });
      resolve({
        next: (type, needle) =>
          new Promise<void>((resolveNext) => waiting.push({ type, needle, resolve: resolveNext })),
        close: () => outgoing.destroy(),
      });
    });
    outgoing.on('error', reject);
    outgoing.end();
  });
}

async function freeLoopbackPort(): Promise<number> {
  const { createServer } = await import('node:net');
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as { port: number };
  await new Promise((resolve) => probe.close(resolve));
  return port;
}
