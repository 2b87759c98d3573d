import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { evolveWorker, type WorkerDocument } from '../../projections/worker-document.js';
import {
  WORKER_EVENTS_STREAM,
  workerEventMessageId,
  workerEventSubject,
} from '../../streams/contracts/subjects.js';
import { encodeWorkerEvent, type WorkerEvent } from '../../streams/contracts/worker-events.js';
import { ensureWorkerEventsStream } from '../../streams/nats/event-streams.js';
import { withTestCluster } from '../support/cluster.js';
import { waitFor } from '../support/nats.js';
import { readWorkerEvents } from '../support/stream.js';

const WORKERS = 5_000;
const EVENTS_PER_WORKER = 10;
const TOTAL = WORKERS * EVENTS_PER_WORKER;
const KILLS = 5;

/** Registered, then inactive/active in turn, ending inactive: restored actors arm no timers. */
function historyOf(workerId: string): WorkerEvent[] {
  const capacity = { cpu: 4, memoryGb: 8, storageGb: 10, gpu: 0 };
  return Array.from({ length: EVENTS_PER_WORKER }, (_, index): WorkerEvent => {
    const seq = index + 1;
    const at = 1_000 * seq;
    if (seq === 1) return { type: 'WorkerRegistered', workerId, at, seq, address: 'h:1', capacity };
    if (seq % 2 === 0)
      return { type: 'WorkerInactive', workerId, at, seq, lastHeartbeatAt: at - 1_000, silentForMs: 1_000 };
    return { type: 'WorkerActivated', workerId, at, seq, lastHeartbeatAt: at };
  });
}

test(`projector SIGKILLed ${KILLS} times while catching up on ${TOTAL} events applies each exactly once`, async () => {
  await withTestCluster({ heartbeatTimeoutMs: 30_000, heartbeatIntervalMs: 5_000 }, async (cluster) => {
    const nc = await cluster.connect('backlog');
    await ensureWorkerEventsStream(await jetstreamManager(nc));
    const js = jetstream(nc);
    // Interleave workers, as a live fleet would: event k of every worker, then event k + 1.
    const histories = Array.from({ length: WORKERS }, (_, index) => historyOf(`w${index}`));
    let pending: Array<Promise<unknown>> = [];
    for (let step = 0; step < EVENTS_PER_WORKER; step++) {
      for (const history of histories) {
        const event = history[step] as WorkerEvent;
        pending.push(
          js.publish(workerEventSubject(event.workerId), encodeWorkerEvent(event), {
            msgID: workerEventMessageId(event.workerId, event.seq),
          }),
        );
        if (pending.length >= 2_000) {
          await Promise.all(pending);
          pending = [];
        }
      }
    }
    await Promise.all(pending);

    const position = () => {
      try {
        return cluster.readModel().snapshot((view) => view.position(WORKER_EVENTS_STREAM));
      } catch {
        return 0; // not created yet by the first serve
      }
    };
    const killedAt: number[] = [];
    for (let kill = 0; kill < KILLS; kill++) {
      const before = position();
      const serve = cluster.spawnServeUnready();
      // Kill as soon as it has made progress, so that every kill lands in the middle of the catch-up.
      await waitFor(() => position() > before || serve.process.exitCode !== null, 60_000, 'progress').catch(
        (error) => {
          throw new Error(`${error.message}; serve said:\n${serve.output()}`);
        },
      );
      serve.process.kill('SIGKILL');
      await serve.exited;
      killedAt.push(position());
    }
    const midway = killedAt.filter((at) => at > 0 && at < TOTAL);
    assert.ok(midway.length >= 3, `kills landed mid-catch-up at positions ${killedAt.join(', ')}`);

    const resumedFrom = position();
    const startedAt = Date.now();
    const serve = await cluster.startServe();
    // The events, and the partition markers of each start that got as far as taking partitions.
    const { last_seq: streamEnd } = (
      await jetstreamManager(nc).then((jsm) => jsm.streams.info(WORKER_EVENTS_STREAM))
    ).state;
    await waitFor(() => position() >= streamEnd, 60_000, 'the projector to catch up');
    const catchUpMs = Date.now() - startedAt;
    serve.process.kill('SIGTERM');
    await serve.exited;

    const readModel = cluster.readModel();
    assert.is(
      readModel.snapshot((view) => view.appliedCount(WORKER_EVENTS_STREAM)),
      TOTAL,
      'each event applied exactly once',
    );
    const folded = new Map<string, WorkerDocument>();
    for (const { event } of await readWorkerEvents(nc))
      folded.set(event.workerId, evolveWorker(folded.get(event.workerId), event));
    const expected = [...folded.values()].sort((a, b) => (a.workerId < b.workerId ? -1 : 1));
    assert.equal(cluster.workers(), expected, 'the read model equals a fold of the whole stream');
    process.stdout.write(
      `  (killed at positions ${killedAt.join(', ')} of ${TOTAL}; the last start applied the remaining ` +
        `${TOTAL - resumedFrom} events and served within ${catchUpMs} ms of its launch)\n`,
    );
  });
});

test.run();
