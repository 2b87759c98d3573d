import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { NO_DISRUPTION } from '../../projections/disruption-document.js';
import { ReadModel } from '../../projections/read-model.js';
import { applyWorkerEventBatch, WorkerProjection } from '../../projections/worker-projector.js';
import { WORKER_EVENTS_STREAM } from '../../streams/contracts/subjects.js';
import type { WorkerStreamEvent } from '../../streams/contracts/worker-events.js';
import { makeTempDir } from '../support/nats.js';
import { streamMessagesOf, workerHistory } from '../support/worker-history.js';

const MINUTE = 60_000;

/** A read model in a temp dir, closed and removed after `use`. */
async function withReadModel(use: (readModel: ReadModel) => Promise<void>): Promise<void> {
  const dataDir = makeTempDir('projection');
  const readModel = ReadModel.open({ dataDir: dataDir.path });
  try {
    await use(readModel);
  } finally {
    await readModel.close();
    dataDir.remove();
  }
}

const amy = workerHistory('amy', [
  ['registered', 0],
  ['suspected', 10 * MINUTE],
  ['recovered', 11 * MINUTE],
  ['inactive', 30 * MINUTE],
  ['activated', 40 * MINUTE],
  ['flapping', 40 * MINUTE],
]);

/** The stream as the fleet would write it: workers' events interleaved, disruption events between them. */
const stream: WorkerStreamEvent[] = [
  ...amy.slice(0, 4),
  {
    type: 'DisruptionStarted',
    at: 31 * MINUTE,
    seq: 1,
    unhealthyWorkers: 2,
    consideredWorkers: 3,
    thresholdPercent: 55,
  },
  ...workerHistory('ben', [
    ['registered', MINUTE],
    ['suspected', 31 * MINUTE],
    ['cordoned', 32 * MINUTE],
  ]),
  ...amy.slice(4),
  { type: 'DisruptionEnded', at: 45 * MINUTE, seq: 2, endedBy: 'heartbeats' },
  ...workerHistory('cat', [
    ['registered', 2 * MINUTE],
    ['removed', 50 * MINUTE],
  ]),
];

test('disruption events set the fleet-wide document, not a worker’s; each is counted once', async () => {
  await withReadModel(async (readModel) => {
    const messages = streamMessagesOf(stream);
    const startedAt = stream.findIndex((event) => event.type === 'DisruptionStarted');
    const first = await applyWorkerEventBatch(readModel, messages.slice(0, startedAt + 1));
    assert.equal(readModel.disruption(), {
      active: true,
      since: 31 * MINUTE,
      endedAt: null,
      endedBy: null,
      unhealthyWorkers: 2,
      consideredWorkers: 3,
      lastEventSeq: 1,
    });
    assert.is(first.applied, startedAt + 1);
    assert.equal(
      readModel.listWorkers().map((worker) => worker.workerId),
      ['amy'],
      'a disruption event makes no worker document',
    );

    // Redelivery of what was applied, with the rest: only the new messages count.
    const second = await applyWorkerEventBatch(readModel, messages);
    assert.is(second.duplicates, startedAt + 1);
    assert.is(second.applied, messages.length - startedAt - 1);
    assert.equal(readModel.disruption(), {
      active: false,
      since: 31 * MINUTE,
      endedAt: 45 * MINUTE,
      endedBy: 'heartbeats',
      unhealthyWorkers: 2,
      consideredWorkers: 3,
      lastEventSeq: 2,
    });
    assert.is(readModel.position(WORKER_EVENTS_STREAM), messages.length);
    assert.is(readModel.appliedCount(WORKER_EVENTS_STREAM), messages.length);

    const byId = new Map(readModel.listWorkers().map((worker) => [worker.workerId, worker]));
    assert.equal(
      [...byId.values()].map((worker) => [worker.workerId, worker.status, worker.flapping, worker.cordoned]),
      [
        ['amy', 'active', true, false],
        ['ben', 'suspect', false, true],
        ['cat', 'removed', false, false],
      ],
    );
    assert.equal(byId.get('amy')?.uptime, {
      since: 0,
      activeMs: 29 * MINUTE,
      suspectMs: MINUTE,
      inactiveMs: 10 * MINUTE,
      outages: 1,
      recoveries: 1,
      recoveredDowntimeMs: 10 * MINUTE,
      downSince: null,
      recentDowntimes: [{ from: 30 * MINUTE, to: 40 * MINUTE }],
    });
  });
});

test('a heartbeat heard before its worker’s first event is written with the document that event creates', async () => {
  await withReadModel(async (readModel) => {
    const projection = new WorkerProjection();
    const ignoreInvalid = () => {};
    projection.recordHeartbeat('kim', 5_000, { cpu: 0.5, memory: 0.25, storage: 0, gpu: 0 });
    // No document yet: the sample waits for the worker's first event.
    const early = await projection.applyBatch(readModel, [], ignoreInvalid);
    assert.equal(early.unappliedSamples, ['kim']);
    assert.is(readModel.getWorker('kim'), undefined);
    assert.is(projection.waitingInput.isWaiting(), false);

    const registration = await projection.applyBatch(
      readModel,
      streamMessagesOf(workerHistory('kim', [['registered', 1_000]])),
      ignoreInvalid,
    );
    assert.equal(
      registration.changedWorkers.map((worker) => [
        worker.workerId,
        worker.lastHeartbeatAt,
        worker.usage.cpu,
      ]),
      [['kim', 5_000, 0.5]],
    );
    assert.equal(
      registration.entries.map((applied) => applied.streamSeq),
      [1],
    );
    assert.is(registration.position, 1);
    const stored = readModel.getWorker('kim');
    assert.is(stored?.status, 'active');
    assert.is(stored?.lastHeartbeatAt, 5_000);
    assert.is(stored?.usage.memory, 0.25);
    // Written once: nothing is left queued for a second write of the same sample.
    assert.is(projection.waitingInput.isWaiting(), false);
    projection.recordHeartbeat('kim', 10_000, { cpu: 0.75, memory: 0.25, storage: 0, gpu: 0 });
    const later = await projection.applyBatch(readModel, [], ignoreInvalid);
    assert.equal(
      later.changedWorkers.map((worker) => [worker.lastHeartbeatAt, worker.usage.cpu]),
      [[10_000, 0.75]],
    );
  });
});

test('events come first: a batch with many events writes fewer heartbeat samples, never none', async () => {
  await withReadModel(async (readModel) => {
    const projection = new WorkerProjection();
    const ignoreInvalid = () => {};
    const registrations = (prefix: string, count: number) =>
      Array.from({ length: count }, (_, index) =>
        workerHistory(`${prefix}-${index}`, [['registered', 1_000]]),
      ).flat();
    const usage = { cpu: 0.5, memory: 0, storage: 0, gpu: 0 };
    const heard = registrations('heard', 2_000);
    await projection.applyBatch(readModel, streamMessagesOf(heard), ignoreInvalid);
    for (const event of heard) projection.recordHeartbeat(event.workerId, 2_000, usage);

    // 1 900 events leave room for 100 samples: the floor of 200 is written all the same.
    const newcomers = registrations('new', 1_900);
    const busy = await projection.applyBatch(readModel, streamMessagesOf(newcomers, 2_001), ignoreInvalid);
    assert.is(busy.applied, 1_900);
    assert.is(busy.changedWorkers.filter((worker) => worker.workerId.startsWith('heard-')).length, 200);
    // 1 000 events: 1 000 samples.
    const some = registrations('more', 1_000);
    const half = await projection.applyBatch(readModel, streamMessagesOf(some, 3_901), ignoreInvalid);
    assert.is(half.changedWorkers.filter((worker) => worker.workerId.startsWith('heard-')).length, 1_000);
    // No event: the rest, up to the cap.
    const quiet = await projection.applyBatch(readModel, [], ignoreInvalid);
    assert.is(quiet.changedWorkers.length, 800);
    assert.is(readModel.getWorker('heard-1999')?.lastHeartbeatAt, 2_000);
  });
});

test('a read model without disruption events reports none', async () => {
  await withReadModel(async (readModel) => {
    await applyWorkerEventBatch(readModel, streamMessagesOf(workerHistory('amy', [['registered', 0]])));
    assert.equal(readModel.disruption(), NO_DISRUPTION);
  });
});

test('rebuilding folds the same documents, uptime included, whatever the batches', async () => {
  const messages = streamMessagesOf(stream);
  const foldIn = async (batches: number[]) => {
    let result: unknown;
    await withReadModel(async (readModel) => {
      let start = 0;
      for (const size of batches) {
        await applyWorkerEventBatch(readModel, messages.slice(start, start + size));
        start += size;
      }
      assert.is(start, messages.length);
      result = { workers: readModel.listWorkers(), disruption: readModel.disruption() };
    });
    return result;
  };
  const live = await foldIn(messages.map(() => 1)); // one batch per event, as a quiet projector sees them
  const rebuilt = await foldIn([messages.length]); // one batch, as `cloudai rebuild` does
  const split = await foldIn([3, 5, messages.length - 8]);
  assert.equal(rebuilt, live);
  assert.equal(split, live);
});

test.run();
