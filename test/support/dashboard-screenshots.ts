import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from '../../streams/util/project-root.js';
import { runCli } from './cli.js';
import { DashboardSetup } from './dashboard.js';

/**
 * `npm run screenshots`: the fleet and worker pages at 1280×800 into docs/, taken with the
 * end-to-end tests' setup (real nats-server, serve, workers and Chromium) and a small story:
 * a worker stopped (inactive), one cordoned, tasks placed.
 */
const docs = join(projectRoot(), 'docs');
mkdirSync(docs, { recursive: true });
const token = 'screenshot-token';
const setup = await DashboardSetup.start({
  token,
  workerIds: ['ada', 'grace', 'kim', 'linus', 'tessa'],
  cluster: { heartbeatTimeoutMs: 1_500, heartbeatIntervalMs: 300 },
});
try {
  const fleet = await setup.open('/');
  await fleet.waitForSelector('#workers tr[data-worker-id="tessa"]');
  for (const cpu of ['2', '1', '3']) {
    const submitted = await runCli(['task', 'submit', '--image', 'python:3.12', '--cpu', cpu], setup.env);
    if (submitted.code !== 0) throw new Error(submitted.stderr);
  }
  const cordoned = await fetch(`${setup.url}/api/workers/linus/cordon`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}` },
  });
  if (!cordoned.ok) throw new Error(`cordon failed: ${await cordoned.text()}`);
  setup.workers.get('ada')?.process.kill('SIGKILL');
  await fleet.waitForSelector('#workers tr[data-worker-id="ada"][data-status="inactive"]', {
    timeout: 15_000,
  });
  await fleet.waitForSelector('#workers tr[data-worker-id="linus"]');
  await fleet.screenshot({ path: join(docs, 'dashboard-fleet.png') });
  const worker = await setup.open('/#/workers/ada');
  await worker.waitForSelector('#timeline .stretch[data-status="inactive"]');
  await worker.screenshot({ path: join(docs, 'dashboard-worker.png') });
  process.stdout.write(`screenshots in ${docs}: dashboard-fleet.png, dashboard-worker.png\n`);
} finally {
  await setup.close();
}
