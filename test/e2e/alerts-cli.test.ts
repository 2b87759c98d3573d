import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { alertSchema } from '../../streams/contracts/alerts.js';
import { connectToNats } from '../../streams/nats/connection.js';
import { readCredentialsFile } from '../../streams/nats/credentials.js';
import { HeartbeatPublisher } from '../../worker/heartbeat-publisher.js';
import { spawnCli } from '../support/cli.js';
import { startAuthorizedServer, waitFor } from '../support/nats.js';

test('cloudai alerts follows the alerts as the cli identity, with authorization on', async () => {
  const { dataDir, server, files } = await startAuthorizedServer('alerts', ['tessa']);
  const env = {
    NATS_URL: server.url,
    CLOUDAI_DATA_DIR: dataDir.path,
    CLOUDAI_HEARTBEAT_TIMEOUT_MS: '600',
    CLOUDAI_HEARTBEAT_INTERVAL_MS: '100',
  };
  const serve = spawnCli(['serve'], env);
  const json = spawnCli(['alerts', '--json'], env);
  const table = spawnCli(['alerts'], env);
  const nc = await connectToNats({
    url: server.url,
    name: 'tessa',
    credentials: readCredentialsFile(files.tessa),
  });
  const tessa = new HeartbeatPublisher({
    nc,
    workerId: 'tessa',
    intervalMs: 100,
    address: '127.0.0.1:50052',
    capacity: { cpu: 8, memoryGb: 16, storageGb: 100, gpu: 1 },
    usage: () => ({ cpu: 0.1, memory: 0.1, storage: 0.1, gpu: 0 }),
  });
  try {
    await waitFor(() => /serving on/.test(serve.output()), 30_000, 'serve');
    for (const follower of [json, table]) {
      await waitFor(() => /following alerts on/.test(follower.output()), 10_000, 'cloudai alerts');
    }
    tessa.start();
    await waitFor(() => /registered/.test(serve.output()), 5_000, 'tessa registered');
    tessa.stop();
    await waitFor(
      () => json.output().includes('worker-inactive'),
      5_000,
      `the alert, got:\n${json.output()}`,
    );
    const line = json
      .output()
      .split('\n')
      .find((text) => text.includes('worker-inactive')) as string;
    const alert = alertSchema.parse(JSON.parse(line));
    assert.is(alert.alert, 'worker-inactive');
    assert.is(alert.workerId, 'tessa');
    assert.is(alert.event.type, 'WorkerInactive');
    await waitFor(() => table.output().includes('worker-inactive'), 2_000, 'the alert in the plain output');
    assert.match(
      table.output(),
      /\d{4}-\d\d-\d\dT[\d:.]+Z {2}worker-inactive {5}worker tessa is inactive: no heartbeat for/,
    );

    table.process.kill('SIGINT');
    assert.is((await table.exited).code, 0);
  } finally {
    tessa.stop();
    await nc.close();
    for (const running of [serve, json, table]) running.process.kill('SIGKILL');
    await server.stop();
    dataDir.remove();
  }
});

test.run();
