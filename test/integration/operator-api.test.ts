import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type OperatorReply, operatorReplySchema } from '../../streams/contracts/operator-requests.js';
import {
  DISRUPTION_END_SUBJECT,
  WORKER_CORDON_SUBJECT,
  WORKER_REMOVE_SUBJECT,
  WORKER_UNCORDON_SUBJECT,
} from '../../streams/contracts/subjects.js';
import { requestJson } from '../../streams/nats/request-reply.js';
import { readWorkerEvents } from '../support/stream.js';
import { type TaskCluster, withTaskCluster } from '../support/task-cluster.js';

const gpuBox = { cpu: 8, memoryGb: 16, storageGb: 100, gpu: 2 };
const small = { cpu: 4, memoryGb: 8, storageGb: 100, gpu: 0 };

async function ask(cluster: TaskCluster, subject: string, body: unknown): Promise<OperatorReply> {
  const reply = await requestJson(cluster.client, subject, body, operatorReplySchema, 5_000);
  if (!reply.ok) throw new Error(`${subject}: ${reply.detail}`);
  return reply.value;
}

async function eventTypesOf(cluster: TaskCluster, workerId: string): Promise<Array<[number, string]>> {
  return (await readWorkerEvents(cluster.client))
    .filter(({ event }) => event.workerId === workerId)
    .map(({ event }) => [event.seq, event.type]);
}

test('cordon and uncordon: the reply comes once the read model and the scheduler see the change', async () => {
  await withTaskCluster({}, async (cluster) => {
    await cluster.addWorker('kim', gpuBox, { taskMs: 20_000 });
    await cluster.addWorker('a', small);
    const first = await cluster.submit({ gpu: 1 });
    assert.equal(first.ok && first.outcome, { kind: 'assigned', workerId: 'kim' });

    assert.equal(await ask(cluster, WORKER_CORDON_SUBJECT, { workerId: 'kim' }), { ok: true });
    // No waiting: the reply means both already see it.
    assert.is(cluster.worker('kim')?.cordoned, true);
    const second = await cluster.submit({ gpu: 1 });
    assert.equal(second.ok && second.outcome, {
      kind: 'queued',
      reason:
        'no schedulable worker is large enough for 1 GPU (largest: 0 GPU on a); kim (cordoned) has room but takes no new tasks',
    });
    const cpuTask = await cluster.submit({ cpu: 1 });
    assert.equal(cpuTask.ok && cpuTask.outcome, { kind: 'assigned', workerId: 'a' });
    // Cordoning again changes nothing, and is no error.
    assert.equal(await ask(cluster, WORKER_CORDON_SUBJECT, { workerId: 'kim' }), { ok: true });
    const running = cluster.task(first.ok ? first.taskId : '');
    assert.equal([running?.workerId, running?.attempt], ['kim', 1], 'its task stays');

    assert.equal(await ask(cluster, WORKER_UNCORDON_SUBJECT, { workerId: 'kim' }), { ok: true });
    assert.is(cluster.worker('kim')?.cordoned, false);
    const placed = await cluster.waitForTask(
      second.ok ? second.taskId : '',
      (task) => task.status !== 'queued',
      'placed once kim is uncordoned',
    );
    assert.is(placed.workerId, 'kim');
    const operatorEvents = (await eventTypesOf(cluster, 'kim')).filter(([, type]) => /cordon/i.test(type));
    assert.equal(
      operatorEvents.map(([, type]) => type),
      ['WorkerCordoned', 'WorkerUncordoned'],
    );
    assert.equal(cluster.controlPlane.operatorApi.stats, { done: 3, refused: 0, rejected: 0 });
  });
});

test('refused and malformed requests get a clear error, are counted, and change nothing', async () => {
  await withTaskCluster({}, async (cluster) => {
    await cluster.addWorker('kim', small);
    const eventsBefore = await eventTypesOf(cluster, 'kim');
    const cases: Array<[string, unknown, RegExp]> = [
      [
        WORKER_CORDON_SUBJECT,
        { workerId: 'ghost' },
        /^worker ghost is not known: list the workers with `cloudai workers`$/,
      ],
      [
        WORKER_REMOVE_SUBJECT,
        { workerId: 'kim' },
        /^worker kim is active: only an inactive or left worker can be removed/,
      ],
      [DISRUPTION_END_SUBJECT, {}, /not in disruption mode/],
      [
        WORKER_UNCORDON_SUBJECT,
        new TextEncoder().encode('{"workerId":'),
        /^malformed request: malformed JSON/,
      ],
      [WORKER_CORDON_SUBJECT, { workerId: 5 }, /^malformed request: workerId: /],
      [
        WORKER_CORDON_SUBJECT,
        { workerId: 'kim; rm -rf' },
        /^worker id "kim; rm -rf" is invalid: use 1–64 characters/,
      ],
      [
        WORKER_CORDON_SUBJECT,
        { workerId: 'k'.repeat(2_000) },
        /^request of 2015 bytes refused: at most 1024 bytes$/,
      ],
      [DISRUPTION_END_SUBJECT, [], /^malformed request: \(root\): /],
    ];
    for (const [subject, body, error] of cases) {
      const reply = await ask(cluster, subject, body);
      assert.is(reply.ok, false, subject);
      assert.match(reply.ok ? '' : reply.error, error);
    }
    assert.equal(cluster.controlPlane.operatorApi.stats, { done: 0, refused: 3, rejected: 5 });
    assert.equal(await eventTypesOf(cluster, 'kim'), eventsBefore, 'no event was written');
    assert.is(cluster.worker('kim')?.cordoned, false);
    // Still serving.
    assert.equal(await ask(cluster, WORKER_CORDON_SUBJECT, { workerId: 'kim' }), { ok: true });
  });
});

test('a removed worker that heartbeats again registers afresh, numbering its events on', async () => {
  await withTaskCluster({}, async (cluster) => {
    const kim = await cluster.addWorker('kim', small);
    await kim.stop();
    await cluster.waitForWorker('kim', 'inactive');
    assert.equal(await ask(cluster, WORKER_REMOVE_SUBJECT, { workerId: 'kim' }), { ok: true });
    assert.is(cluster.worker('kim')?.status, 'removed');
    const cordonRemoved = await ask(cluster, WORKER_CORDON_SUBJECT, { workerId: 'kim' });
    assert.equal(cordonRemoved, {
      ok: false,
      error: 'worker kim was removed: list the workers with `cloudai workers --all`',
    });

    kim.start();
    await cluster.waitForWorker('kim', 'active');
    const events = await eventTypesOf(cluster, 'kim');
    assert.equal(
      events.map(([seq]) => seq),
      events.map((_, index) => index + 1),
      'one numbering, no gap, no reuse',
    );
    assert.equal(
      events.slice(-2).map(([, type]) => type),
      ['WorkerRemoved', 'WorkerRegistered'],
    );
    const task = await cluster.submit({ cpu: 1 });
    assert.equal(task.ok && task.outcome, { kind: 'assigned', workerId: 'kim' });
  });
});

test.run();
