import { jetstream, jetstreamManager, StorageType } from '@nats-io/jetstream';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { TASK_LOGS_STREAM, TASKS_STREAM, WORKER_EVENTS_STREAM } from '../../streams/contracts/subjects.js';
import { connectToNats } from '../../streams/nats/connection.js';
import {
  ensureEventStream,
  ensureTasksStream,
  ensureWorkerEventsStream,
} from '../../streams/nats/event-streams.js';
import { replicasFor, replicasForRetrying } from '../../streams/nats/stream-replicas.js';
import { ensureTaskLogsStream } from '../../streams/nats/task-log-stream.js';
import { makeTempDir, startTestNatsServer, waitFor } from '../support/nats.js';
import { TestNatsCluster } from '../support/nats-cluster.js';

test('a lone server: streams get one replica, and nothing is said about it', async () => {
  const storeDir = makeTempDir('replicas-lone');
  const server = await startTestNatsServer(storeDir.path);
  const nc = await connectToNats({ url: server.url, name: 'test' });
  try {
    const jsm = await jetstreamManager(nc);
    assert.is(await replicasFor(jsm), 1);
    const warnings: string[] = [];
    await ensureWorkerEventsStream(jsm, { onWarning: (message) => warnings.push(message) });
    await ensureWorkerEventsStream(await jetstreamManager(nc), {
      onWarning: (message) => warnings.push(message),
    });
    assert.is((await jsm.streams.info(WORKER_EVENTS_STREAM)).config.num_replicas, 1);
    assert.equal(warnings, []);
  } finally {
    await nc.close();
    await server.stop();
    storeDir.remove();
  }
});

test('a three-server cluster: new streams get three replicas, an existing one is warned about and kept', async () => {
  const cluster = await TestNatsCluster.start('replicas');
  const nc = await connectToNats({ url: cluster.natsUrl, name: 'test' });
  try {
    const jsm = await jetstreamManager(nc);
    assert.is(await replicasFor(jsm), 3);
    const warnings: string[] = [];
    const placement = { onWarning: (message: string) => warnings.push(message) };
    await ensureWorkerEventsStream(jsm, placement);
    await ensureTasksStream(jsm, placement);
    await ensureTaskLogsStream(jsm, 1_000_000, placement);
    for (const stream of [WORKER_EVENTS_STREAM, TASKS_STREAM, TASK_LOGS_STREAM]) {
      const info = await jsm.streams.info(stream);
      assert.is(info.config.num_replicas, 3, stream);
      assert.is(info.cluster?.replicas?.length, 2, `${stream}: a leader and two followers`);
    }
    assert.equal(warnings, []);
    const names: string[] = [];
    for await (const name of jsm.streams.names()) names.push(name);
    assert.equal(
      names.sort(),
      [TASK_LOGS_STREAM, TASKS_STREAM, WORKER_EVENTS_STREAM].sort(),
      'no probe left',
    );

    // A stream made by hand (or before the cluster grew) with one replica and some data.
    await jsm.streams.add({
      name: 'OLD_EVENTS',
      subjects: ['old.>'],
      storage: StorageType.File,
      num_replicas: 1,
    });
    await jetstream(nc).publish('old.1', 'kept');
    const fresh = await jetstreamManager(nc);
    const lastSeq = await ensureEventStream(fresh, 'OLD_EVENTS', ['old.>'], placement);
    assert.is(lastSeq, 1);
    const old = await fresh.streams.info('OLD_EVENTS');
    assert.is(old.config.num_replicas, 1, 'left as it is');
    assert.is(old.state.messages, 1, 'its data too');
    assert.is(warnings.length, 1);
    assert.match(
      warnings[0] as string,
      /stream OLD_EVENTS has 1 replica while this NATS cluster has 3 or more/,
    );
    assert.match(warnings[0] as string, /nats stream edit OLD_EVENTS --replicas 3/);

    // One of the three down: a control plane starting now still gets three replicas (JetStream
    // places them on the known peers), once the meta group has a leader.
    const down = (cluster.memberOf(nc) + 1) % cluster.members.length;
    await cluster.kill(down);
    let replicas: number | undefined;
    const killedAt = Date.now();
    await waitFor(
      async () => {
        // While the meta group elects a leader, JetStream requests time out: asked again, as a
        // starting control plane asks.
        replicas = await replicasForRetrying(nc).catch(() => undefined);
        return replicas !== undefined;
      },
      20_000,
      'an answer with one server down',
    );
    console.log(
      `  measured: with one of three servers down, the answer came ${Date.now() - killedAt} ms after the kill`,
    );
    assert.is(replicas, 3, 'three replicas with one of three servers down');
  } finally {
    await nc.close();
    await cluster.close();
  }
});

test.run();
