import { jetstreamManager } from '@nats-io/jetstream';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { TASKS_STREAM, WORKER_EVENTS_STREAM } from '../../streams/contracts/subjects.js';
import { runCli } from '../support/cli.js';
import { withTestCluster } from '../support/cluster.js';
import { waitFor } from '../support/nats.js';

test('consumers deleted under a running serve: it says so, recreates them, and events are still applied', async () => {
  await withTestCluster({ heartbeatTimeoutMs: 1_000, heartbeatIntervalMs: 100 }, async (cluster) => {
    const serve = await cluster.startServe();
    const nc = await cluster.connect('operator');
    const kim = cluster.worker(nc, 'kim');
    kim.start();
    await waitFor(() => cluster.statusOf('kim') === 'active', 5_000, 'kim active');

    const jsm = await jetstreamManager(nc);
    const consumersOf = async (stream: string) => {
      const names: string[] = [];
      for await (const info of jsm.consumers.list(stream)) names.push(info.name);
      return names;
    };
    const listAll = async () =>
      [
        ...(await consumersOf(WORKER_EVENTS_STREAM)).map((name) => [WORKER_EVENTS_STREAM, name]),
        ...(await consumersOf(TASKS_STREAM)).map((name) => [TASKS_STREAM, name]),
      ].sort();
    const deleted = await listAll();
    // The projectors' on both streams, and the scheduler's on TASKS (it folds WORKER_EVENTS as
    // the worker projector applies them).
    assert.equal(
      deleted.map(([stream]) => stream),
      [TASKS_STREAM, TASKS_STREAM, WORKER_EVENTS_STREAM],
      deleted.join(', '),
    );
    for (const [stream = '', name = ''] of deleted) {
      // nats-server 2.9 may refuse a delete while it writes the consumer's state: ask again.
      await waitFor(
        () =>
          jsm.consumers.delete(stream, name).then(
            () => true,
            (error: Error) => /not found/i.test(error.message),
          ),
        5_000,
        `consumer ${name} deleted`,
      );
    }
    await waitFor(
      () => (serve.output().match(/ recreated\n/g) ?? []).length >= deleted.length,
      10_000,
      'every consumer recreated',
    );
    assert.match(
      serve.output(),
      new RegExp(
        `consumer \\S+ of ${WORKER_EVENTS_STREAM} is gone \\(consumer_deleted\\): recreating it from stream sequence \\d+`,
      ),
    );
    await waitFor(
      async () => JSON.stringify(await listAll()) === JSON.stringify(deleted),
      5_000,
      'the same consumers again',
    );

    // Events after the deletion reach the read model and the scheduler.
    kim.stop();
    await waitFor(() => cluster.statusOf('kim') === 'inactive', 5_000, 'kim inactive in the read model');
    const ravi = cluster.worker(nc, 'ravi');
    ravi.start();
    await waitFor(() => cluster.statusOf('ravi') === 'active', 5_000, 'ravi registered in the read model');
    const placed = await runCli(['task', 'submit', '--cpu', '1'], cluster.env());
    assert.match(
      placed.stdout,
      /^task (t-[a-z0-9]+) (assigned to ravi|queued: .*ravi)/,
      placed.stdout + placed.stderr,
    );
    const taskId = /^task (t-[a-z0-9]+)/.exec(placed.stdout)?.[1] ?? '';
    await waitFor(
      async () => (await runCli(['task', 'show', taskId, '--json'], cluster.env())).code === 0,
      5_000,
      'the task in the read model',
    );
    ravi.stop();
  });
});

test.run();
