import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ProjectorLagProbe } from '../../control-plane/projector-lag.js';
import {
  WORKER_EVENTS_STREAM,
  workerEventMessageId,
  workerEventSubject,
} from '../../streams/contracts/subjects.js';
import { encodeWorkerEvent } from '../../streams/contracts/worker-events.js';
import { ensureWorkerEventsStream } from '../../streams/nats/event-streams.js';
import { withTestCluster } from '../support/cluster.js';

test('the lag is the stream last sequence minus what the read model applied; a silent JetStream is a rejection in time', async () => {
  await withTestCluster({ heartbeatTimeoutMs: 1_000, heartbeatIntervalMs: 100 }, async (cluster) => {
    const nc = await cluster.connect('lag-probe');
    await ensureWorkerEventsStream(await jetstreamManager(nc));
    const js = jetstream(nc);
    for (let seq = 1; seq <= 3; seq++) {
      const event = { type: 'WorkerCordoned', workerId: 'tessa', at: Date.now(), seq } as const;
      await js.publish(workerEventSubject('tessa'), encodeWorkerEvent(event), {
        msgID: workerEventMessageId('tessa', seq),
      });
    }
    let applied = 1;
    const probe = new ProjectorLagProbe(nc, [{ stream: WORKER_EVENTS_STREAM, applied: () => applied }], 300);
    assert.equal(await probe.measure(), [{ stream: WORKER_EVENTS_STREAM, lastSeq: 3, applied: 1, lag: 2 }]);
    applied = 3;
    assert.equal(await probe.measure(), [{ stream: WORKER_EVENTS_STREAM, lastSeq: 3, applied: 3, lag: 0 }]);

    await cluster.server.stop();
    const started = Date.now();
    const error = await probe.measure().then(
      () => undefined,
      (rejection: Error) => rejection,
    );
    assert.instance(error, Error);
    assert.ok(Date.now() - started < 1_500, `rejected after ${Date.now() - started} ms`);
  });
});

test.run();
