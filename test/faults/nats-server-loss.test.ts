import { setTimeout as sleep } from 'node:timers/promises';
import type { NatsConnection } from '@nats-io/transport-node';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { resolveConfig } from '../../cli/config.js';
import { ControlPlane } from '../../control-plane/control-plane.js';
import { TASK_SUBMIT_SUBJECT, TASKS_STREAM, WORKER_EVENTS_STREAM } from '../../streams/contracts/subjects.js';
import {
  submitReplySchema,
  type TaskEvent,
  taskEventMessageId,
} from '../../streams/contracts/task-events.js';
import { isDisruptionEvent, type WorkerStreamEvent } from '../../streams/contracts/worker-events.js';
import { connectToNats } from '../../streams/nats/connection.js';
import { requestJson } from '../../streams/nats/request-reply.js';
import { silentLogger } from '../../streams/util/logger.js';
import { HeartbeatPublisher } from '../../worker/heartbeat-publisher.js';
import { makeTempDir, waitFor } from '../support/nats.js';
import { TestNatsCluster } from '../support/nats-cluster.js';
import { readTaskEvents, readWorkerStream } from '../support/stream.js';
import { TaskWorker } from '../support/task-cluster.js';

const TIMINGS = {
  heartbeatTimeoutMs: 3_000,
  heartbeatIntervalMs: 200,
  suspectAfterMs: 1_500,
  // A fixed grace: φ would read the reconnect pause of a worker as a late beat.
  phiMinSamples: 1_000_000,
  assignTimeoutMs: 2_000,
  requestTimeoutMs: 6_000,
};
/**
 * A stream (or the lease bucket) whose leader died takes no writes until a new one is elected:
 * nats-server's followers wait 4–9 s for a lost leader before they campaign. Detection and
 * placement resume after that, and after the control plane takes back the leases that lapsed
 * meanwhile; this allows one full election window twice over.
 */
const FAILOVER_MS = 20_000;
/** How often a submission is tried after the kill: each waits out its own request timeout. */
const PROBE_INTERVAL_MS = 500;
const WORKERS = ['w-1', 'w-2', 'w-3', 'w-4', 'w-5'] as const;

function workerEventKey(event: WorkerStreamEvent): string {
  return isDisruptionEvent(event)
    ? `${event.type}:${event.seq}`
    : `${event.type}:${event.workerId}:${event.seq}`;
}

function taskEventKey(event: TaskEvent): string {
  return `${event.type}:${taskEventMessageId(event)}`;
}

/** Submits as `cloudai task submit` does; undefined when the request fails (a failover under way). */
async function trySubmit(client: NatsConnection, taskId: string): Promise<string | undefined> {
  try {
    const reply = await requestJson(
      client,
      TASK_SUBMIT_SUBJECT,
      { taskId, task: { image: 'test:1', cpu: 2, memoryGb: 1 } },
      submitReplySchema,
      TIMINGS.requestTimeoutMs,
    );
    return reply.ok ? taskId : undefined;
  } catch {
    return undefined;
  }
}

test('kill -9 of one nats-server of three under load: no acknowledged event lost, detection and placement go on, it rejoins and catches up', async () => {
  const cluster = await TestNatsCluster.start('server-loss');
  const dataDir = makeTempDir('server-loss');
  const ackedWorkerEvents = new Map<number, string>();
  const ackedTaskEvents = new Map<number, string>();
  const inactive = new Set<string>();
  let controlPlane: ControlPlane | undefined;
  const connections: NatsConnection[] = [];
  const publishers: HeartbeatPublisher[] = [];
  const workers: TaskWorker[] = [];
  let loading = true;
  try {
    controlPlane = await ControlPlane.start({
      settings: resolveConfig({ ...TIMINGS, natsUrl: cluster.natsUrl, dataDir: dataDir.path }, {}),
      logger: () => silentLogger,
      onEventStored: (event, streamSeq) => {
        ackedWorkerEvents.set(streamSeq, workerEventKey(event));
        if (event.type === 'WorkerInactive') inactive.add(event.workerId);
      },
      onTaskEventStored: (event, streamSeq) => ackedTaskEvents.set(streamSeq, taskEventKey(event)),
    });
    const plane = controlPlane;
    const connect = async (name: string) => {
      const nc = await connectToNats({ url: cluster.natsUrl, name });
      connections.push(nc);
      return nc;
    };
    const workerConnection = await connect('workers');
    const client = await connect('client');
    for (const workerId of WORKERS) {
      const worker = new TaskWorker(
        workerConnection,
        workerId,
        { cpu: 64, memoryGb: 256, storageGb: 100, gpu: 0 },
        {
          taskMs: 100,
          intervalMs: TIMINGS.heartbeatIntervalMs,
          agent: true,
        },
      );
      workers.push(worker);
      worker.start();
    }
    const statusOf = (workerId: string) =>
      plane.readModel.snapshot((view) => view.getWorker(workerId)?.status);
    await waitFor(() => WORKERS.every((id) => statusOf(id) === 'active'), 10_000, 'the workers active');

    // Load: a worker joins every 25 ms (a WorkerRegistered each) and a task is submitted every 30 ms;
    // the joiners run no agent and are too small for the tasks, which go to the agents.
    let joined = 0;
    const joining = (async () => {
      while (loading) {
        const publisher = new HeartbeatPublisher({
          nc: workerConnection,
          workerId: `joiner-${++joined}`,
          intervalMs: TIMINGS.heartbeatIntervalMs,
          address: '127.0.0.1:50052',
          capacity: { cpu: 1, memoryGb: 1, storageGb: 1, gpu: 0 },
          usage: () => ({ cpu: 0, memory: 0, storage: 0, gpu: 0 }),
        });
        publishers.push(publisher);
        publisher.start();
        await sleep(25);
      }
    })();
    let submitted = 0;
    const submitting = (async () => {
      while (loading) {
        void trySubmit(client, `t-load-${++submitted}`);
        await sleep(30);
      }
    })();
    await waitFor(() => ackedTaskEvents.size >= 20 && ackedWorkerEvents.size >= 20, 10_000, 'load flowing');

    const killed = cluster.memberOf(plane.nc);
    const killedAt = Date.now();
    await cluster.kill(killed);
    const ackedBeforeKill = ackedWorkerEvents.size + ackedTaskEvents.size;

    // Placement goes on: submissions are tried from the kill on until one is accepted.
    let placedTask: string | undefined;
    let acceptedAfterMs = Number.NaN;
    const probing = (async () => {
      for (let attempt = 1; placedTask === undefined && Date.now() - killedAt < FAILOVER_MS; attempt++) {
        void trySubmit(client, `t-after-kill-${attempt}`).then((taskId) => {
          if (taskId === undefined || placedTask !== undefined) return;
          placedTask = taskId;
          acceptedAfterMs = Date.now() - killedAt;
        });
        await sleep(PROBE_INTERVAL_MS);
      }
    })();

    // Detection goes on: a worker stopped after the kill is declared inactive.
    const victim = workers[0] as TaskWorker;
    await victim.stop();
    await waitFor(
      () => statusOf(victim.workerId) === 'inactive',
      TIMINGS.heartbeatTimeoutMs + FAILOVER_MS,
      `${victim.workerId} inactive after the kill`,
    );
    const detectedAfterMs = Date.now() - killedAt;
    await waitFor(
      () => placedTask !== undefined,
      Math.max(0, killedAt + FAILOVER_MS - Date.now()),
      'a submission accepted after the kill',
    );
    await probing;
    await waitFor(
      () =>
        plane.readModel.snapshot((view) => {
          const status = view.getTask(placedTask as string)?.status;
          return status !== undefined && status !== 'queued';
        }),
      FAILOVER_MS,
      `${placedTask} placed`,
    );
    assert.ok(
      ackedWorkerEvents.size + ackedTaskEvents.size > ackedBeforeKill,
      'events were acknowledged after the kill',
    );
    console.log(
      `nats-server kill -9: a dead worker inactive ${detectedAfterMs} ms, a submission accepted ` +
        `${acceptedAfterMs} ms and placed ${Date.now() - killedAt} ms after the kill`,
    );

    loading = false;
    await Promise.all([joining, submitting]);
    // The live workers kept beating through the failover: none was taken for dead.
    assert.equal([...inactive], [victim.workerId]);

    // It rejoins and catches up: every replica of both streams current, the restarted one among them.
    await cluster.restart(killed);
    for (const stream of [WORKER_EVENTS_STREAM, TASKS_STREAM]) {
      const { leader, followers } = await cluster.waitForCurrentReplicas(client, stream, 20_000);
      assert.ok(
        [leader, ...followers].includes(cluster.serverName(killed)),
        `${stream} placed on ${leader}, ${followers.join(', ')}`,
      );
    }

    // No acknowledged event is lost: each is in its stream, at the sequence JetStream acknowledged.
    // The control plane stops first, so nothing is acknowledged after the streams are read.
    for (const publisher of publishers) publisher.stop();
    for (const worker of workers) await worker.stop();
    await plane.close();
    controlPlane = undefined;
    const storedWorkerEvents = new Map(
      (await readWorkerStream(client)).map(({ streamSeq, event }) => [streamSeq, workerEventKey(event)]),
    );
    const storedTaskEvents = new Map(
      (await readTaskEvents(client)).map(({ streamSeq, event }) => [streamSeq, taskEventKey(event)]),
    );
    for (const [seq, key] of ackedWorkerEvents)
      assert.is(storedWorkerEvents.get(seq), key, `WORKER_EVENTS ${seq}`);
    for (const [seq, key] of ackedTaskEvents) assert.is(storedTaskEvents.get(seq), key, `TASKS ${seq}`);
  } finally {
    loading = false;
    for (const publisher of publishers) publisher.stop();
    for (const worker of workers) await worker.stop();
    await controlPlane?.close();
    for (const nc of connections) await nc.close().catch(() => {});
    await cluster.close();
    dataDir.remove();
  }
});

test.run();
