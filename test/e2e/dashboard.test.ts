import type { NatsConnection } from '@nats-io/transport-node';
import type { Page } from 'puppeteer-core';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { findFreePort } from '../../streams/util/ports.js';
import { runCli, workersJson } from '../support/cli.js';
import { TestCluster } from '../support/cluster.js';
import { DashboardSetup } from '../support/dashboard.js';
import { waitFor } from '../support/nats.js';
import { readEventsOf } from '../support/stream.js';

const TOKEN = 'test-dashboard-token';

interface Context {
  setup: DashboardSetup;
  nc: NatsConnection;
  /** The fleet page, opened once: later steps check it never reloaded. */
  fleet: Page;
  taskId: string;
}

const e2e = suite<Context>('the web dashboard in Chromium, against the real serve and workers');

e2e.before(async (context) => {
  context.setup = await DashboardSetup.start({
    token: TOKEN,
    workerIds: ['ada', 'kim', 'tessa'],
    cluster: { heartbeatTimeoutMs: 1_500, heartbeatIntervalMs: 200 },
  });
  context.nc = await context.setup.cluster.connect('dashboard-test-reader');
});

e2e.after(async (context) => {
  await context.setup?.close();
});

const rowSelector = (workerId: string, status?: string) =>
  `#workers tr[data-worker-id="${workerId}"]${status ? `[data-status="${status}"]` : ''}`;

/** The worker ids in the fleet table, top to bottom. */
const shownWorkers = (page: Page) =>
  page.$$eval('#workers tbody tr', (rows) => rows.map((row) => row.getAttribute('data-worker-id')));

/** The test's own code that runs in the page: written as text, since the test compiles without DOM types. */
const colourOf = (page: Page, selector: string) =>
  page.$eval(
    selector,
    (element) =>
      (globalThis as unknown as { getComputedStyle(of: unknown): { color: string } }).getComputedStyle(
        element,
      ).color,
  );

/** Marks the page's document: a reload makes a new one, without the mark. */
const markDocument = (page: Page) => page.evaluate('window.notReloaded = true');
const stillSameDocument = async (page: Page) => (await page.evaluate('window.notReloaded === true')) === true;

const textOf = (page: Page, selector: string) =>
  page.$eval(selector, (element) => (element.textContent ?? '').replace(/\s+/g, ' ').trim());

e2e(
  'the fleet page shows every worker with its status, symbol and colour, and the summary line',
  async (context) => {
    const page = await context.setup.open('/');
    context.fleet = page;
    for (const workerId of ['ada', 'kim', 'tessa'])
      await page.waitForSelector(rowSelector(workerId, 'active'));
    assert.equal(await shownWorkers(page), ['ada', 'kim', 'tessa']);
    assert.is(await textOf(page, `${rowSelector('kim')} td:nth-child(2)`), '● active');
    assert.is(await colourOf(page, `${rowSelector('kim')} .status`), 'rgb(21, 128, 61)', 'active is green');
    assert.is(await textOf(page, `${rowSelector('kim')} td:nth-child(3)`), 'yes');
    assert.is(await textOf(page, `${rowSelector('kim')} td:nth-child(9)`), '0c 0G', 'nothing allocated yet');
    assert.is(
      await textOf(page, '#summary'),
      '3 workers: 3 active, 0 suspect, 0 inactive, 0 left, 0 removed; 3 schedulable, 0 cordoned, 0 draining, 0 flapping',
    );
    assert.is(await page.$eval('#connection', (element) => element.getAttribute('data-connected')), 'true');
    // Marks this document: a reload would make a new one without the mark.
    await markDocument(page);
  },
);

e2e(
  'a killed worker turns suspect, then inactive, on the open page within a second of each event',
  async (context) => {
    const page = context.fleet;
    // Records when the browser shows each status of ada's row.
    await page.evaluate(`
      window.adaSeen = {};
      new MutationObserver(() => {
        const status = document.querySelector('tr[data-worker-id="ada"]')?.getAttribute('data-status');
        if (status && window.adaSeen[status] === undefined) window.adaSeen[status] = Date.now();
      }).observe(document.body, { subtree: true, attributes: true, childList: true });
    `);
    context.setup.workers.get('ada')?.process.kill('SIGKILL');
    await page.waitForSelector(rowSelector('ada', 'suspect'), { timeout: 10_000 });
    assert.is(await textOf(page, `${rowSelector('ada')} td:nth-child(2)`), '◐ suspect');
    await page.waitForSelector(rowSelector('ada', 'inactive'), { timeout: 10_000 });
    assert.is(await textOf(page, `${rowSelector('ada')} td:nth-child(2)`), '○ inactive');
    assert.is(await colourOf(page, `${rowSelector('ada')} .status`), 'rgb(185, 28, 28)', 'inactive is red');
    assert.ok(await stillSameDocument(page), 'the page was not reloaded');
    const seen = (await page.evaluate('window.adaSeen')) as Record<string, number>;
    const events = await readEventsOf(context.nc, 'ada');
    const suspected = events.find((event) => event.type === 'WorkerSuspected');
    const inactive = events.find((event) => event.type === 'WorkerInactive');
    assert.ok(suspected && inactive, 'both events are stored');
    const suspectLag = (seen.suspect as number) - (suspected?.at ?? 0);
    const inactiveLag = (seen.inactive as number) - (inactive?.at ?? 0);
    assert.ok(suspectLag >= 0 && suspectLag < 1_000, `suspect shown ${suspectLag} ms after the event`);
    assert.ok(inactiveLag >= 0 && inactiveLag < 1_000, `inactive shown ${inactiveLag} ms after the event`);
    await waitFor(
      async () => (await textOf(page, '#summary')).startsWith('3 workers: 2 active, 0 suspect, 1 inactive'),
      5_000,
      'the summary line to count ada inactive',
    );
  },
);

e2e('the alerts page lists the live feed newest first', async (context) => {
  const page = await context.setup.open('/#/alerts');
  await page.waitForSelector('#alerts li[data-worker-id="ada"][data-alert="worker-inactive"]');
  const feed = await page.$$eval('#alerts li[data-worker-id="ada"]', (items) =>
    items.map((item) => item.getAttribute('data-alert')),
  );
  assert.equal(feed, ['worker-inactive', 'worker-suspect']);
  // Kim's alerts arrive on the open page: a stop of its own would take too long, so tessa goes.
  context.setup.workers.get('tessa')?.process.kill('SIGKILL');
  await page.waitForSelector('#alerts li[data-worker-id="tessa"][data-alert="worker-suspect"]', {
    timeout: 10_000,
  });
  const first = await page.$eval('#alerts li', (item) => item.getAttribute('data-worker-id'));
  assert.is(first, 'tessa', 'the newest alert is on top');
  context.setup.startWorker('tessa');
  await context.fleet.waitForSelector(rowSelector('tessa', 'active'), { timeout: 15_000 });
  await page.close();
});

e2e('the worker page shows its state history, figures and events', async (context) => {
  const page = await context.setup.open('/#/workers/ada');
  await page.waitForSelector('#timeline .stretch');
  assert.equal(
    await page.$$eval('#timeline .stretch', (stretches) =>
      stretches.map((stretch) => stretch.getAttribute('data-status')),
    ),
    ['active', 'suspect', 'inactive'],
  );
  assert.is(
    await page.$eval('#worker-heading', (element) => element.getAttribute('data-status')),
    'inactive',
  );
  const figures = await page.$$eval('#stats tr', (rows) =>
    Object.fromEntries(
      rows.map((row) => [row.querySelector('th')?.textContent, row.querySelector('td')?.textContent]),
    ),
  );
  assert.is(figures.outages, '1 (0 recovered)');
  assert.is(figures.schedulable, 'no');
  assert.match(figures['time inactive'] ?? '', /%\)$/);
  const events = await page.$$eval('#events li', (items) => items.map((item) => item.textContent ?? ''));
  assert.match(events[0] ?? '', /WorkerInactive$/, 'newest event first');
  assert.match(events[events.length - 1] ?? '', /WorkerRegistered$/);
  await page.close();
});

e2e('a task submitted from the CLI appears on the open tasks page and moves', async (context) => {
  const page = await context.setup.open('/#/tasks');
  await page.waitForSelector('#task-counts');
  await markDocument(page);
  const submitted = await runCli(
    ['task', 'submit', '--image', 'python:3.12', '--cpu', '1'],
    context.setup.env,
  );
  assert.is(submitted.code, 0, submitted.stderr);
  const match = /^task (t-[a-z0-9]+) assigned to (kim|tessa)\n$/.exec(submitted.stdout);
  assert.ok(match, submitted.stdout);
  const [, taskId, workerId] = match as RegExpExecArray;
  context.taskId = taskId as string;
  await page.waitForSelector(`tr[data-task-id="${taskId}"][data-status="running"]`, { timeout: 10_000 });
  assert.is(await textOf(page, `tr[data-task-id="${taskId}"] td:nth-child(3)`), workerId as string);
  assert.ok(await stillSameDocument(page));
  // Its attempts, one click away.
  await page.click(`tr[data-task-id="${taskId}"] button.link`);
  await page.waitForSelector('tr.attempts li');
  assert.is(await textOf(page, 'tr.attempts li'), `#1 on ${workerId}: running`);
  // The fleet page counts it on its worker without a reload.
  await waitFor(
    async () =>
      (await textOf(context.fleet, `${rowSelector(workerId as string)} td:nth-child(11)`)) ===
      `1 (${taskId})`,
    5_000,
    'the task on its worker row',
  );
  await page.close();
});

e2e('search by id and the status filter narrow the table', async (context) => {
  const page = context.fleet;
  await page.type('#search', 'TES');
  await waitFor(async () => (await shownWorkers(page)).join() === 'tessa', 5_000, 'only tessa');
  assert.is(await textOf(page, '#page-info'), 'page 1 of 1 (1 worker)');
  await page.click('#search', { count: 3 });
  await page.keyboard.press('Backspace');
  await waitFor(async () => (await shownWorkers(page)).length === 3, 5_000, 'every worker again');
  await page.click('input[data-status-filter="active"]');
  await waitFor(async () => (await shownWorkers(page)).join() === 'ada', 5_000, 'only the inactive ada');
  await page.click('input[data-status-filter="active"]');
  await page.click('button[data-sort="id"]');
  await waitFor(async () => (await shownWorkers(page)).join() === 'tessa,kim,ada', 5_000, 'ids descending');
  await page.click('button[data-sort="id"]');
  await waitFor(async () => (await shownWorkers(page)).join() === 'ada,kim,tessa', 5_000, 'ids ascending');
});

e2e(
  'an action without the token is refused with the reason; with it, it is done as by the CLI',
  async (context) => {
    const page = await context.setup.open('/#/workers/kim');
    await page.waitForSelector('#cordon:not([disabled])');
    await page.click('#cordon');
    await page.waitForSelector('#notice.error');
    assert.is(
      await textOf(page, '#notice'),
      'this action needs the dashboard token: send it as `Authorization: Bearer <token>`',
    );
    await page.type('#token', 'not-the-token');
    await page.click('#cordon');
    await waitFor(
      async () =>
        (await textOf(page, '#notice')) ===
        'the dashboard token is wrong: use the one `cloudai serve` was started with',
      5_000,
      'the wrong token refused',
    );
    assert.is(
      (await workersJson(context.setup.env)).find((worker) => worker.workerId === 'kim')?.cordoned,
      false,
    );
    await page.click('#token', { count: 3 });
    await page.type('#token', TOKEN);
    await page.click('#cordon');
    await waitFor(
      async () => (await textOf(page, '#notice')) === 'worker kim cordoned',
      5_000,
      'kim cordoned',
    );
    assert.is(
      (await workersJson(context.setup.env)).find((worker) => worker.workerId === 'kim')?.cordoned,
      true,
    );
    await context.fleet.waitForSelector(rowSelector('kim'));
    await waitFor(
      async () => (await textOf(context.fleet, `${rowSelector('kim')} td:nth-child(3)`)) === 'no: cordoned',
      5_000,
      'the fleet page to show kim cordoned',
    );
    await page.waitForSelector('#uncordon:not([disabled])');
    await page.click('#uncordon');
    await waitFor(
      async () => (await textOf(page, '#notice')) === 'worker kim uncordoned',
      5_000,
      'kim uncordoned',
    );
    // The task on the tasks page, cancelled with the token this tab holds (for this tab only).
    await page.evaluate("location.hash = '#/tasks'");
    await page.waitForSelector(`tr[data-task-id="${context.taskId}"] button.cancel`);
    await page.click(`tr[data-task-id="${context.taskId}"] button.cancel`);
    await page.waitForSelector(`tr[data-task-id="${context.taskId}"][data-status="cancelled"]`, {
      timeout: 10_000,
    });
    assert.is(await textOf(page, '#task-notice'), `task ${context.taskId} cancelled (it was running)`);
    await page.close();
  },
);

/** A request to the dashboard's API: its status and JSON body. */
async function api(
  context: Context,
  path: string,
  init: RequestInit = {},
): Promise<{ status: number; body: unknown }> {
  const response = await fetch(`${context.setup.url}${path}`, init);
  return { status: response.status, body: await response.json() };
}

const bearer = (token: string): RequestInit => ({
  method: 'POST',
  headers: { authorization: `Bearer ${token}` },
});

e2e('the API answers bad input with a 4xx and a sentence, never a 500', async (context) => {
  const cases: Array<[string, RequestInit, number, string]> = [
    ['/api/workers?size=100000', {}, 400, 'size must be a whole number from 1 to 500, got "100000"'],
    ['/api/workers?size=0', {}, 400, 'size must be a whole number from 1 to 500, got "0"'],
    ['/api/workers?page=-1', {}, 400, 'page must be a whole number from 1, got "-1"'],
    ['/api/workers?page=1.5', {}, 400, 'page must be a whole number from 1, got "1.5"'],
    [
      '/api/workers?sort=colour',
      {},
      400,
      'sort must be one of id, status, lastSeen, address, cpu, tasks, since (a leading - sorts descending), got "colour"',
    ],
    [
      '/api/workers?status=dead',
      {},
      400,
      'status must be a comma-separated list of active, suspect, inactive, left, removed (or all), got "dead"',
    ],
    [
      '/api/workers?search=a%20b',
      {},
      400,
      'search must be part of a worker id (at most 64 characters of A–Z, a–z, 0–9, _ and -), got "a b"',
    ],
    [
      '/api/workers?colour=red',
      {},
      400,
      'unknown query parameter "colour": use page, size, sort, status, search',
    ],
    ['/api/workers?page=1&page=2', {}, 400, 'query parameter "page" is given twice: give it once'],
    ['/api/workers/nobody', {}, 404, 'no worker nobody: list the workers with GET /api/workers'],
    [
      '/api/workers/no%20body',
      {},
      400,
      'worker id "no body" is invalid: use 1–64 characters of A–Z, a–z, 0–9, _ and -',
    ],
    ['/api/tasks/t-none', {}, 404, 'no task t-none: list the tasks with GET /api/tasks'],
    [
      '/api/tasks?status=lost',
      {},
      400,
      'status must be a comma-separated list of queued, assigned, running, completed, failed, cancelled (or all), got "lost"',
    ],
    ['/api/alerts?limit=1000', {}, 400, 'limit must be a whole number from 1 to 200, got "1000"'],
    [
      '/api/nothing',
      {},
      404,
      'no such API route: use /api/workers, /api/workers/ID, /api/tasks, /api/tasks/ID, /api/alerts or /api/events',
    ],
    [
      '/api/workers/%E0%A4%A',
      {},
      404,
      'no such API route: use /api/workers, /api/workers/ID, /api/tasks, /api/tasks/ID, /api/alerts or /api/events',
    ],
    ['/api/workers', { method: 'DELETE' }, 405, 'method not allowed here: use GET'],
    ['/api/workers/kim/cordon', {}, 405, 'method not allowed here: use POST'],
    [
      '/api/workers/kim/cordon',
      { method: 'POST' },
      401,
      'this action needs the dashboard token: send it as `Authorization: Bearer <token>`',
    ],
    [
      '/api/workers/kim/cordon',
      bearer('guess'),
      403,
      'the dashboard token is wrong: use the one `cloudai serve` was started with',
    ],
    [
      '/api/workers/nobody/cordon',
      bearer(TOKEN),
      404,
      'no worker nobody: list the workers with GET /api/workers',
    ],
    [
      '/api/workers/kim/remove',
      bearer(TOKEN),
      409,
      'worker kim is active: only an inactive or left worker can be removed (an active one would register again ' +
        'at its next heartbeat); stop it, wait until `cloudai workers` shows it left or inactive, and retry',
    ],
    [
      `/api/tasks/${context.taskId}/cancel`,
      bearer(TOKEN),
      409,
      `task ${context.taskId} is already cancelled: there is nothing to cancel`,
    ],
    ['/nowhere', {}, 404, 'no page "/nowhere": the dashboard is at /'],
  ];
  for (const [path, init, status, error] of cases) {
    assert.equal(
      await api(context, path, init),
      { status, body: { error } },
      `${init.method ?? 'GET'} ${path}`,
    );
  }
  // The same refusal from the CLI, word for word.
  const cli = await runCli(['workers', 'remove', 'kim'], context.setup.env);
  assert.is(cli.stderr.trim(), `cloudai: ${(cases[21] as [string, RequestInit, number, string])[3]}`);
});

e2e('a drain from the API: a bad deadline is refused, a drain starts and is cancelled', async (context) => {
  assert.equal(await api(context, '/api/workers/kim/drain?deadline=soon', bearer(TOKEN)), {
    status: 400,
    body: { error: 'deadline "soon" is not a duration up to 24 days: write it like 1h, 30m, 1h30m or 90s' },
  });
  assert.equal(await api(context, '/api/workers/kim/drain?deadline=30m', bearer(TOKEN)), {
    status: 200,
    body: { ok: true, message: 'worker kim draining, deadline in 30m00s' },
  });
  // kim holds no task: its drain ends at once, and a drained worker stays cordoned.
  const drained = (await workersJson(context.setup.env)).find((worker) => worker.workerId === 'kim');
  assert.is(drained?.drain, null, 'no drain left under way');
  assert.ok(drained?.cordoned, 'kim drained and cordoned');
  const cancel = await api(context, '/api/workers/kim/drain-cancel', bearer(TOKEN));
  assert.is(cancel.status, 409);
  assert.match((cancel.body as { error: string }).error, /not draining/);
  assert.equal(await api(context, '/api/workers/kim/uncordon', bearer(TOKEN)), {
    status: 200,
    body: { ok: true, message: 'worker kim uncordoned' },
  });
});

e2e('the API pages, sorts and filters on the server', async (context) => {
  const { status, body } = await api(context, '/api/workers?size=2&sort=-id&status=all');
  assert.is(status, 200);
  const page = body as {
    total: number;
    pages: number;
    workers: Array<{ workerId: string; schedulable: boolean }>;
  };
  assert.is(page.total, 3);
  assert.is(page.pages, 2);
  assert.equal(
    page.workers.map((worker) => worker.workerId),
    ['tessa', 'kim'],
  );
  const second = (await api(context, '/api/workers?size=2&sort=-id&page=2')).body as typeof page;
  assert.equal(
    second.workers.map((worker) => [worker.workerId, worker.schedulable]),
    [['ada', false]],
  );
  const inactive = (await api(context, '/api/workers?status=inactive')).body as typeof page;
  assert.equal(
    inactive.workers.map((worker) => worker.workerId),
    ['ada'],
  );
  const worker = (await api(context, '/api/workers/ada')).body as { timeline: Array<{ status: string }> };
  assert.equal(
    worker.timeline.map((stretch) => stretch.status),
    ['active', 'suspect', 'inactive'],
  );
});

e2e.run();

{
  const readOnly = suite('a dashboard started without a token is read-only');
  readOnly('actions are refused with what to do; reads work', async () => {
    const cluster = await TestCluster.start({ heartbeatTimeoutMs: 1_500, heartbeatIntervalMs: 200 });
    try {
      const controlPlane = await cluster.startControlPlane({ httpPort: await findFreePort() });
      try {
        const url = controlPlane.dashboard?.url as string;
        assert.ok(url, 'the dashboard is served');
        const read = await fetch(`${url}/api/workers`);
        assert.is(read.status, 200);
        assert.is(((await read.json()) as { actions: boolean }).actions, false);
        const action = await fetch(`${url}/api/workers/kim/cordon`, bearer('anything'));
        assert.is(action.status, 403);
        assert.equal(await action.json(), {
          error:
            'this dashboard is read-only: start `cloudai serve` with --http-token (or CLOUDAI_HTTP_TOKEN) to allow actions',
        });
      } finally {
        await controlPlane.close();
      }
    } finally {
      await cluster.close();
    }
  });
  readOnly.run();
}
