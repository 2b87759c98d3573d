import { setTimeout as sleep } from 'node:timers/promises';
import { type JetStreamManager, jetstreamManager } from '@nats-io/jetstream';
import { type KV, Kvm } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { controlPlaneIdOf } from '../../control-plane/control-plane-id.js';
import {
  LEASE_BUCKET,
  type LeaseTable,
  leaseKeyOf,
  readLeaseTable,
} from '../../control-plane/leases/lease-bucket.js';
import type { Resources } from '../../projections/resources.js';
import { evolveTask, isTerminal, type TaskDocument, whyIgnored } from '../../projections/task-document.js';
import { ALL_PARTITIONS, partitionOf } from '../../streams/contracts/partitions.js';
import { TASK_SUBMIT_SUBJECT, TASKS_STREAM, WORKER_EVENTS_STREAM } from '../../streams/contracts/subjects.js';
import { type SubmitReply, submitReplySchema, type TaskEvent } from '../../streams/contracts/task-events.js';
import type { WorkerStreamEvent } from '../../streams/contracts/worker-events.js';
import { connectToNats } from '../../streams/nats/connection.js';
import type { NatsServer } from '../../streams/nats/nats-server.js';
import { requestJson } from '../../streams/nats/request-reply.js';
import { HeartbeatPublisher } from '../../worker/heartbeat-publisher.js';
import { type RunningCli, spawnCli, waitUntilServing, workersJson } from '../support/cli.js';
import { makeTempDir, waitFor } from '../support/nats.js';
import { TestNatsCluster } from '../support/nats-cluster.js';
import { seededRandom } from '../support/random.js';
import { type SeenEvent, type StreamWatch, watchTaskStream, watchWorkerStream } from '../support/stream.js';
import { TaskWorker } from '../support/task-cluster.js';
import { TcpProxy } from '../support/tcp-proxy.js';
import { workersPerPartition } from '../support/workers.js';

/**
 * Control planes (`cloudai serve`) sharing one nats-server through leases: each case kills,
 * freezes or cuts off one of two and checks what the other and the streams make of it.
 */
const LEASE_TTL_MS = 2_000;
const HEARTBEAT_TIMEOUT_MS = 3_600;
const HEARTBEAT_INTERVAL_MS = 100;
const SUSPECT_AFTER_MS = HEARTBEAT_TIMEOUT_MS / 2;
/**
 * A control plane treats its leases as lost this long after its last successful renewal was
 * sent (see LeaseKeeper). Suspicion must come later, even for a worker heard just before a
 * cut: otherwise a cut-off control plane judges while it still holds the lease, and its event
 * reaches the server, under its old epoch, only when the cut heals.
 */
const FENCE_AFTER_MS = (LEASE_TTL_MS * 2) / 3;
/** The bound: a worker dead during a failover is inactive this long after its last heartbeat. */
const INACTIVE_BOUND_MS = LEASE_TTL_MS + HEARTBEAT_TIMEOUT_MS + 1_000;
/**
 * How long before its control plane's kill a worker of the first case dies: long enough that a
 * fresh timeout from the takeover would break the bound, short enough that it is not judged yet.
 */
const DIED_BEFORE_KILL_MS = 2_000;
/** Set CLOUDAI_TEST_SEED to replay another burst of submissions. */
const SEED = Number(process.env.CLOUDAI_TEST_SEED ?? 20_261_130);

/** A lease as the bucket holds it. */
type HeldLease = LeaseTable['leases'][number];

let cluster: TestNatsCluster;
let nc: NatsConnection;
let jsm: JetStreamManager;

test.before(async () => {
  assert.ok(SUSPECT_AFTER_MS - HEARTBEAT_INTERVAL_MS > FENCE_AFTER_MS, 'suspicion comes after fencing');
  cluster = await TestNatsCluster.start('failover-nats');
  nc = await connectToNats({ url: cluster.natsUrl, name: 'failover-test' });
  jsm = await jetstreamManager(nc);
});

test.after(async () => {
  await nc?.close();
  await cluster?.close();
});

interface Serve {
  name: string;
  /** Its control-plane id, as its events and leases name it. */
  id: string;
  running: RunningCli;
  dataDir: ReturnType<typeof makeTempDir>;
}

/** One case's control planes and workers, stopped and wiped by `close`. */
class Case {
  readonly serves: Serve[] = [];
  readonly heartbeats = new Map<string, HeartbeatPublisher>();
  /** When each worker last published a heartbeat (wall clock). */
  readonly lastBeatAt = new Map<string, number>();
  readonly taskWorkers: TaskWorker[] = [];
  private readonly watches: Array<StreamWatch<unknown>> = [];
  private readonly proxies: TcpProxy[] = [];
  workerEvents!: StreamWatch<WorkerStreamEvent>;
  kv!: KV;

  async startServe(name: string, natsUrl = cluster.natsUrl): Promise<Serve> {
    const dataDir = makeTempDir(`failover-${name}`);
    const running = spawnCli(['serve'], {
      NATS_URL: natsUrl,
      CLOUDAI_DATA_DIR: dataDir.path,
      CLOUDAI_LEASE_TTL_MS: String(LEASE_TTL_MS),
      CLOUDAI_HEARTBEAT_TIMEOUT_MS: String(HEARTBEAT_TIMEOUT_MS),
      CLOUDAI_HEARTBEAT_INTERVAL_MS: String(HEARTBEAT_INTERVAL_MS),
      // A fixed grace before suspicion (φ never takes over), as test/support/cluster.ts sets it.
      CLOUDAI_SUSPECT_AFTER_MS: String(SUSPECT_AFTER_MS),
      CLOUDAI_PHI_MIN_SAMPLES: '1000000',
      CLOUDAI_ASSIGN_TIMEOUT_MS: '1000',
    });
    const serve: Serve = { name, id: '', running, dataDir };
    this.serves.push(serve);
    await waitUntilServing(running, 30_000);
    serve.id = controlPlaneIdOf(dataDir.path);
    return serve;
  }

  /** Starts two control planes at once (`a` through `aUrl`), then watches the bucket and the events. */
  async startTwo(aUrl = cluster.natsUrl): Promise<[Serve, Serve]> {
    const serves = await Promise.all([this.startServe('a', aUrl), this.startServe('b')]);
    this.kv = await new Kvm(nc).open(LEASE_BUCKET);
    this.workerEvents = await watchWorkerStream(nc);
    this.watches.push(this.workerEvents);
    return serves;
  }

  async proxy(): Promise<TcpProxy> {
    // In front of one server: the cut control plane reaches none (its pings time out only after the cut).
    const proxy = await TcpProxy.start((cluster.members[0] as NatsServer).port);
    this.proxies.push(proxy);
    return proxy;
  }

  async watchTasks(): Promise<StreamWatch<TaskEvent>> {
    const watch = await watchTaskStream(nc);
    this.watches.push(watch);
    return watch;
  }

  /** Two workers in every partition, beating from this process. */
  async startWorkers(prefix: string): Promise<string[]> {
    const workerIds = workersPerPartition(prefix, 2);
    for (const workerId of workerIds) {
      const publisher = new HeartbeatPublisher({
        nc,
        workerId,
        intervalMs: HEARTBEAT_INTERVAL_MS,
        address: `${workerId}.test:50052`,
        capacity: { cpu: 4, memoryGb: 8, storageGb: 50, gpu: 0 },
        usage: () => ({ cpu: 0.1, memory: 0.1, storage: 0.1, gpu: 0 }),
        now: () => {
          const now = Date.now();
          this.lastBeatAt.set(workerId, now);
          return now;
        },
      });
      this.heartbeats.set(workerId, publisher);
      publisher.start();
    }
    await this.registered(workerIds);
    return workerIds;
  }

  async registered(workerIds: readonly string[]): Promise<void> {
    const waiting = new Set(workerIds);
    await waitFor(
      () => {
        for (const { event } of this.workerEvents.seen) {
          if (event.type === 'WorkerRegistered') waiting.delete(event.workerId);
        }
        return waiting.size === 0;
      },
      15_000,
      `${workerIds.length} workers registered`,
    );
  }

  /** Partition and scheduler leases as the bucket holds them now (being taken: epoch 0, left out). */
  async leases(): Promise<Map<string, HeldLease>> {
    const { leases } = await readLeaseTable(this.kv);
    return new Map(leases.filter(({ epoch }) => epoch > 0).map((lease) => [leaseKeyOf(lease.role), lease]));
  }

  async waitForLeases(
    check: (table: Map<string, HeldLease>) => boolean,
    timeoutMs: number,
    what: string,
  ): Promise<Map<string, HeldLease>> {
    let table = new Map<string, HeldLease>();
    await waitFor(
      async () => {
        table = await this.leases();
        return check(table);
      },
      timeoutMs,
      what,
    );
    return table;
  }

  /** Both control planes hold their share (six partitions each) and one of them the scheduler. */
  waitForBalance(a: Serve, b: Serve, timeoutMs = 15_000): Promise<Map<string, HeldLease>> {
    const half = ALL_PARTITIONS.length / 2;
    return this.waitForLeases(
      (table) =>
        partitionsHeldBy(table, a.id).size === half &&
        partitionsHeldBy(table, b.id).size === half &&
        [a.id, b.id].includes(table.get('scheduler')?.holder ?? ''),
      timeoutMs,
      `${a.name} and ${b.name} sharing the partitions`,
    );
  }

  /** Resolves once the watch has seen everything WORKER_EVENTS holds now. */
  async workerEventsCaughtUp(): Promise<number> {
    const { last_seq: lastSeq } = (await jsm.streams.info(WORKER_EVENTS_STREAM)).state;
    await this.workerEvents.waitForPosition(lastSeq, 5_000);
    return lastSeq;
  }

  /**
   * Waits for a stopped worker's WorkerInactive and asserts the bound from its last
   * heartbeat; prints the figure under `label`. Returns the event.
   */
  async inactiveWithinBound(workerId: string, label: string): Promise<SeenEvent<WorkerStreamEvent>> {
    const inactive = await this.workerEvents.waitFor(
      ({ event }) => event.type === 'WorkerInactive' && event.workerId === workerId,
      INACTIVE_BOUND_MS + 5_000,
      `${workerId} inactive`,
    );
    const judgedAfterMs = inactive.event.at - (this.lastBeatAt.get(workerId) as number);
    console.log(`${label}: ${workerId} inactive ${judgedAfterMs} ms after its last heartbeat`);
    assert.ok(
      judgedAfterMs <= INACTIVE_BOUND_MS,
      `${label}: ${workerId} inactive ${judgedAfterMs} ms after its last heartbeat, bound ${INACTIVE_BOUND_MS} ms`,
    );
    return inactive;
  }

  /** Events that called a worker of `liveWorkers` suspect or dead. */
  falseJudgements(liveWorkers: ReadonlySet<string>): string[] {
    return this.workerEvents.seen
      .filter(
        ({ event }) =>
          (event.type === 'WorkerSuspected' || event.type === 'WorkerInactive') &&
          liveWorkers.has(event.workerId),
      )
      .map(({ streamSeq, event }) => `${streamSeq}: ${event.type} ${describeWriter(event)}`);
  }

  /** Stops everything and wipes the streams, so the next case starts from an empty log. */
  async close(): Promise<void> {
    for (const publisher of this.heartbeats.values()) publisher.stop();
    for (const worker of this.taskWorkers) await worker.stop();
    for (const watch of this.watches) await watch.stop();
    for (const proxy of this.proxies) proxy.restore();
    // A graceful stop hands the leases back: the next case need not wait for them to expire.
    for (const serve of this.serves) {
      if (serve.running.process.exitCode !== null || serve.running.process.signalCode !== null) continue;
      serve.running.process.kill('SIGCONT');
      serve.running.process.kill('SIGTERM');
    }
    for (const serve of this.serves) {
      const stopped = await Promise.race([serve.running.exited, sleep(10_000).then(() => undefined)]);
      if (!stopped) serve.running.process.kill('SIGKILL');
      serve.dataDir.remove();
    }
    for (const proxy of this.proxies) await proxy.close();
    for (const stream of [WORKER_EVENTS_STREAM, TASKS_STREAM])
      await jsm.streams.delete(stream).catch(() => {});
    if (this.kv) {
      await this.waitForLeases((table) => table.size === 0, LEASE_TTL_MS * 3, 'no lease left');
    }
  }
}

async function withCase(body: (run: Case) => Promise<void>): Promise<void> {
  const run = new Case();
  try {
    await body(run);
  } catch (error) {
    for (const serve of run.serves) {
      console.error(`--- output of serve ${serve.name} (${serve.id}) ---\n${serve.running.output()}`);
    }
    throw error;
  } finally {
    if (process.env.FAILOVER_DEBUG)
      for (const serve of run.serves)
        console.error(`--- ${serve.name} (${serve.id}) ---\n${serve.running.output()}`);
    await run.close();
  }
}

function partitionsHeldBy(table: ReadonlyMap<string, HeldLease>, holder: string): Map<number, number> {
  const held = new Map<number, number>();
  for (const partition of ALL_PARTITIONS) {
    const record = table.get(`partition.${partition}`);
    if (record?.holder === holder) held.set(partition, record.epoch);
  }
  return held;
}

function describeWriter(event: WorkerStreamEvent): string {
  const subject = 'workerId' in event ? event.workerId : 'the fleet';
  return `of ${subject} by ${event.controlPlane ?? '?'} (epoch ${event.epoch ?? 'none'})`;
}

/** When `serve` logged the line that says `text` (its log lines start with the time). */
function loggedAt(serve: Serve, text: string): number {
  const line = serve.running
    .output()
    .split('\n')
    .find((candidate) => candidate.includes(text));
  const at = Date.parse(line?.split(' ')[0] ?? '');
  if (Number.isNaN(at)) throw new Error(`${serve.name} never logged "${text}"`);
  return at;
}

function outputSince(serve: Serve, mark: number): string {
  return serve.running.output().slice(mark);
}

/**
 * After a pause (SIGSTOP) or a network cut of `frozen`: it gives up every partition it held,
 * gets its share back under new epochs, and nothing it wrote since `resumedAfterSeq` carries one
 * of its old epochs.
 */
async function assertFencedAfterResume(
  run: Case,
  frozen: Serve,
  other: Serve,
  oldEpochs: ReadonlyMap<number, number>,
  resumedAfterSeq: number,
  outputMark: number,
): Promise<void> {
  await waitFor(
    () =>
      [...oldEpochs.keys()].every((partition) =>
        outputSince(frozen, outputMark).includes(`gave up partition ${partition} (`),
      ),
    10_000,
    `${frozen.name} to give up partitions ${[...oldEpochs.keys()].join(', ')}`,
  );
  const balanced = await run.waitForBalance(frozen, other);
  const newEpochs = partitionsHeldBy(balanced, frozen.id);
  for (const [partition, epoch] of newEpochs) {
    assert.ok(
      epoch > (oldEpochs.get(partition) ?? 0),
      `partition ${partition} came back to ${frozen.name} under a new epoch (${epoch})`,
    );
  }
  await run.workerEventsCaughtUp();
  const stale = run.workerEvents.seen.filter(
    ({ streamSeq, event }) =>
      streamSeq > resumedAfterSeq &&
      event.controlPlane === frozen.id &&
      event.epoch !== undefined &&
      [...oldEpochs.values()].includes(event.epoch),
  );
  assert.equal(
    stale.map(({ streamSeq, event }) => `${streamSeq}: ${event.type} ${describeWriter(event)}`),
    [],
    `${frozen.name} wrote under its old epochs after it resumed`,
  );
}

/**
 * Stops one live worker and waits for it to be declared inactive: proof that the judging runs
 * again, and a window long enough for any false suspicion of the others to have shown.
 */
async function stopCanary(run: Case, workerId: string): Promise<SeenEvent<WorkerStreamEvent>> {
  run.heartbeats.get(workerId)?.stop();
  const inactive = await run.workerEvents.waitFor(
    ({ event }) => event.type === 'WorkerInactive' && event.workerId === workerId,
    HEARTBEAT_TIMEOUT_MS + LEASE_TTL_MS + 5_000,
    `canary ${workerId} inactive`,
  );
  await run.workerEventsCaughtUp();
  return inactive;
}

test('kill -9 of a control plane: the other takes its partitions; no live worker is judged, a dead one is within the bound', async () => {
  await withCase(async (run) => {
    const [a, b] = await run.startTwo();
    const before = await run.waitForBalance(a, b);
    const workerIds = await run.startWorkers('k');
    const killedPartitions = partitionsHeldBy(before, a.id);
    const [stoppedEarly, stopped] = workerIds.filter((workerId) =>
      killedPartitions.has(partitionOf(workerId)),
    ) as [string, string];
    // One dies a while before its control plane, not yet judged when that dies: the survivor,
    // which shadowed the partition, must judge it from its real last heartbeat, not from the takeover.
    run.heartbeats.get(stoppedEarly)?.stop();
    await sleep(DIED_BEFORE_KILL_MS);

    a.running.process.kill('SIGKILL');
    run.heartbeats.get(stopped)?.stop();

    const after = await run.waitForLeases(
      (table) => partitionsHeldBy(table, b.id).size === ALL_PARTITIONS.length,
      LEASE_TTL_MS * 4,
      `${b.name} to hold every partition`,
    );
    for (const [partition, epoch] of killedPartitions) {
      assert.ok(
        (partitionsHeldBy(after, b.id).get(partition) ?? 0) > epoch,
        `partition ${partition} taken over under a new epoch`,
      );
    }
    const inactive = await run.inactiveWithinBound(stopped, 'kill -9, stopped at the kill');
    assert.is(inactive.event.controlPlane, b.id, 'declared by the survivor');
    assert.is(inactive.event.epoch, partitionsHeldBy(after, b.id).get(partitionOf(stopped)));
    const early = await run.inactiveWithinBound(
      stoppedEarly,
      `kill -9, dead ${DIED_BEFORE_KILL_MS} ms before it`,
    );
    assert.is(early.event.controlPlane, b.id, 'declared by the survivor');

    await run.workerEventsCaughtUp();
    const live = new Set(workerIds.filter((workerId) => workerId !== stopped && workerId !== stoppedEarly));
    assert.equal(run.falseJudgements(live), [], 'no live worker suspected or declared inactive');
    const notActive = async () =>
      (await workersJson({ NATS_URL: cluster.natsUrl, CLOUDAI_DATA_DIR: b.dataDir.path }))
        .filter((worker) => worker.status !== 'active')
        .map((worker) => worker.workerId);
    await waitFor(async () => (await notActive()).includes(stopped), 10_000, "the survivor's read model");
    assert.equal(
      (await notActive()).sort(),
      [stopped, stoppedEarly].sort(),
      "the survivor's read model: every other worker active",
    );
  });
});

test('SIGSTOP past the lease, then SIGCONT: the frozen control plane writes nothing under its old epochs', async () => {
  await withCase(async (run) => {
    const [a, b] = await run.startTwo();
    const workerIds = await run.startWorkers('z');
    const before = await run.waitForBalance(a, b);
    const oldEpochs = partitionsHeldBy(before, a.id);
    // Dies with the freeze: on waking, the frozen one finds it overdue (the others' heartbeats
    // wait in its socket and keep them fresh), so it has something to judge.
    const dead = workerIds.find((workerId) => oldEpochs.has(partitionOf(workerId))) as string;

    run.heartbeats.get(dead)?.stop();
    const frozenAt = Date.now();
    a.running.process.kill('SIGSTOP');
    await run.waitForLeases(
      (table) => partitionsHeldBy(table, b.id).size === ALL_PARTITIONS.length,
      LEASE_TTL_MS * 4,
      `${b.name} to hold every partition`,
    );
    // Frozen past every liveness timer it holds: unfenced, it would declare the dead worker
    // inactive on waking.
    await sleep(Math.max(0, frozenAt + HEARTBEAT_TIMEOUT_MS + 500 - Date.now()));
    const resumedAfterSeq = await run.workerEventsCaughtUp();
    const outputMark = a.running.output().length;
    a.running.process.kill('SIGCONT');

    await run.inactiveWithinBound(dead, 'SIGSTOP, dead with the freeze');
    await assertFencedAfterResume(run, a, b, oldEpochs, resumedAfterSeq, outputMark);
    const canary = workerIds.find((workerId) => workerId !== dead) as string;
    await stopCanary(run, canary);
    const live = new Set(workerIds.filter((workerId) => workerId !== canary && workerId !== dead));
    assert.equal(run.falseJudgements(live), [], 'no live worker suspected or declared inactive');
  });
});

test('network cut between a control plane and the server, then healed: it writes nothing under its old epochs', async () => {
  await withCase(async (run) => {
    const proxy = await run.proxy();
    const [a, b] = await run.startTwo(proxy.url);
    const workerIds = await run.startWorkers('n');
    const before = await run.waitForBalance(a, b);
    const oldEpochs = partitionsHeldBy(before, a.id);

    const cutAt = Date.now();
    const outputMark = a.running.output().length;
    proxy.hold();
    const takenOver = await run.waitForLeases(
      (table) => partitionsHeldBy(table, b.id).size === ALL_PARTITIONS.length,
      LEASE_TTL_MS * 4,
      `${b.name} to hold every partition`,
    );
    // Cut off past every liveness timer it holds, as in the SIGSTOP case.
    await sleep(Math.max(0, cutAt + HEARTBEAT_TIMEOUT_MS + 500 - Date.now()));
    const healedAfterSeq = await run.workerEventsCaughtUp();
    proxy.restore();

    await assertFencedAfterResume(run, a, b, oldEpochs, healedAfterSeq, outputMark);
    // Cut off, it stopped judging on its own clock before the other could start.
    for (const [partition, oldEpoch] of oldEpochs) {
      const newEpoch = partitionsHeldBy(takenOver, b.id).get(partition);
      const gaveUpAt = loggedAt(a, `gave up partition ${partition} (epoch ${oldEpoch})`);
      const tookAt = loggedAt(b, `took partition ${partition} (epoch ${newEpoch})`);
      assert.ok(
        gaveUpAt < tookAt,
        `partition ${partition}: given up at ${gaveUpAt}, taken over at ${tookAt}`,
      );
    }
    const canary = workerIds[1] as string;
    await stopCanary(run, canary);
    const live = new Set(workerIds.filter((workerId) => workerId !== canary));
    assert.equal(run.falseJudgements(live), [], 'no live worker suspected or declared inactive');
  });
});

test(`kill -9 of the scheduling control plane in a burst of submissions: every task placed once, none lost (seed ${SEED})`, async () => {
  const random = seededRandom(SEED);
  await withCase(async (run) => {
    const [a, b] = await run.startTwo();
    const before = await run.waitForBalance(a, b);
    const tasks = await run.watchTasks();
    const scheduling = before.get('scheduler')?.holder === a.id ? a : b;
    const survivor = scheduling === a ? b : a;
    const oldSchedulerEpoch = before.get('scheduler')?.epoch as number;

    // Workers in both control planes' partitions, with agents that take and run tasks.
    const workerIds = workersPerPartition('s', 1).slice(0, 6);
    for (const workerId of workerIds) {
      const capacity: Resources = {
        cpu: 2 + Math.floor(random() * 7),
        memoryGb: 4 + Math.floor(random() * 13),
        storageGb: 50,
        gpu: 0,
      };
      const worker = new TaskWorker(nc, workerId, capacity, {
        taskMs: 150 + Math.floor(random() * 250),
        intervalMs: HEARTBEAT_INTERVAL_MS,
        agent: true,
      });
      run.taskWorkers.push(worker);
      worker.start();
    }
    await run.registered(workerIds);
    // What the agents run, sampled: a task must never run on two workers at once.
    const overlaps = new Set<string>();
    const sampler = setInterval(() => {
      const runningOn = new Map<string, string>();
      for (const worker of run.taskWorkers) {
        for (const { taskId } of worker.agent?.runningTasks() ?? []) {
          const other = runningOn.get(taskId);
          if (other !== undefined && other !== worker.workerId)
            overlaps.add(`${taskId} on ${other} and ${worker.workerId}`);
          runningOn.set(taskId, worker.workerId);
        }
      }
    }, 10);

    const acknowledged = new Map<string, { reply: SubmitReply; sentAt: number }>();
    const unanswered: string[] = [];
    let taskCounter = 0;
    const submit = async (): Promise<void> => {
      taskCounter++;
      const taskId = `t-${String(taskCounter).padStart(4, '0')}`;
      // Each fits the smallest worker, so every task can run somewhere.
      const task = {
        image: 'test:1',
        cpu: 0.5 + Math.floor(random() * 4) / 2,
        memoryGb: 0.5 + Math.floor(random() * 7) / 2,
      };
      const sentAt = Date.now();
      const reply = await requestJson(nc, TASK_SUBMIT_SUBJECT, { taskId, task }, submitReplySchema, 6_000);
      if (reply.ok && reply.value.ok) acknowledged.set(taskId, { reply: reply.value, sentAt });
      else unanswered.push(`${taskId}: ${reply.ok ? JSON.stringify(reply.value) : reply.detail}`);
    };
    const inFlight: Array<Promise<void>> = [];
    try {
      for (let n = 0; n < 25; n++) {
        inFlight.push(submit());
        await sleep(Math.floor(random() * 40));
      }
      const killedAt = Date.now();
      scheduling.running.process.kill('SIGKILL');
      // Submissions go on through the failover until the new scheduler has taken a dozen.
      await waitFor(
        async () => {
          inFlight.push(submit());
          await sleep(20 + Math.floor(random() * 40));
          return [...acknowledged.values()].filter(({ sentAt }) => sentAt > killedAt).length >= 12;
        },
        LEASE_TTL_MS * 5 + 10_000,
        'submissions acknowledged after the failover',
      );
      await Promise.all(inFlight);

      const after = await run.leases();
      const newScheduler = after.get('scheduler');
      assert.is(newScheduler?.holder, survivor.id, 'the survivor holds the scheduler');
      const newSchedulerEpoch = newScheduler?.epoch as number;
      assert.ok(newSchedulerEpoch > oldSchedulerEpoch, 'under a new epoch');

      // Every stored task runs to its end.
      const stored = () =>
        new Set(tasks.seen.flatMap(({ event }) => (event.type === 'TaskSubmitted' ? [event.taskId] : [])));
      await waitFor(
        () => {
          const folded = foldTasks(tasks.seen);
          return [...stored()].every((taskId) => {
            const task = folded.get(taskId);
            return task !== undefined && isTerminal(task.status);
          });
        },
        30_000,
        'every stored task finished',
      );
      const { last_seq: lastSeq } = (await jsm.streams.info(TASKS_STREAM)).state;
      await tasks.waitForPosition(lastSeq, 5_000);

      const audit = auditFailover(tasks.seen, oldSchedulerEpoch, newSchedulerEpoch);
      assert.equal(audit.violations, [], `seed ${SEED}: ${audit.violations.join('\n')}`);
      assert.equal([...overlaps], [], 'no task ran on two workers at once');
      for (const taskId of acknowledged.keys()) {
        assert.is(audit.submitted.get(taskId), 1, `acknowledged ${taskId} stored once`);
      }
      for (const [taskId, { sentAt }] of acknowledged) {
        if (sentAt <= killedAt) continue;
        assert.equal(
          audit.decisionEpochs.get(taskId),
          [newSchedulerEpoch],
          `${taskId}, submitted after the failover, decided by the survivor only`,
        );
      }
      const folded = foldTasks(tasks.seen);
      assert.equal(
        [...folded.values()].filter((task) => task.status !== 'completed').map((task) => task.taskId),
        [],
        'every stored task completed',
      );
      // The run must have exercised what it checks.
      assert.ok(
        [...acknowledged.values()].some(({ sentAt }) => sentAt <= killedAt),
        'submissions acknowledged before the kill',
      );
      assert.ok(audit.decidedByOld > 0 && audit.decidedByNew > 0, JSON.stringify(audit));
      console.log(
        `scheduler failover: ${acknowledged.size} acknowledged, ${unanswered.length} unanswered, ` +
          `${folded.size} stored; ${audit.decidedByOld} decisions under the old epoch, ${audit.decidedByNew} under the new`,
      );
    } finally {
      clearInterval(sampler);
      await Promise.allSettled(inFlight);
    }
  });
});

function foldTasks(events: ReadonlyArray<SeenEvent<TaskEvent>>): Map<string, TaskDocument> {
  const tasks = new Map<string, TaskDocument>();
  for (const { event } of events) {
    const after = evolveTask(tasks.get(event.taskId), event);
    if (after) tasks.set(event.taskId, after);
  }
  return tasks;
}

/** Decisions are what the scheduler writes (reports are the agents', stored on their behalf, without an epoch). */
const DECISIONS: ReadonlySet<TaskEvent['type']> = new Set([
  'TaskSubmitted',
  'TaskAssigned',
  'TaskRequeued',
  'TaskCancelled',
]);

interface FailoverAudit {
  violations: string[];
  /** TaskSubmitted events stored per task. */
  submitted: Map<string, number>;
  /** The epochs each task's decisions were written under, in stream order, without repeats. */
  decisionEpochs: Map<string, number[]>;
  decidedByOld: number;
  decidedByNew: number;
}

/**
 * Folds TASKS as an auditor would: every decision must apply to the task as the log has it
 * (an assignment of a task already assigned, or of an attempt already given, means two
 * schedulers), each task ends in exactly one final state, every decision carries the epoch of
 * one of the two schedulers, and once the new one has written, the old one never does again.
 */
function auditFailover(
  events: ReadonlyArray<SeenEvent<TaskEvent>>,
  oldEpoch: number,
  newEpoch: number,
): FailoverAudit {
  const violations: string[] = [];
  const tasks = new Map<string, TaskDocument>();
  const submitted = new Map<string, number>();
  const decisionEpochs = new Map<string, number[]>();
  const assignedAttempts = new Set<string>();
  const finalTransitions = new Map<string, number>();
  let decidedByOld = 0;
  let decidedByNew = 0;
  for (const { streamSeq, event } of events) {
    const before = tasks.get(event.taskId);
    if (DECISIONS.has(event.type)) {
      if (event.epoch === oldEpoch) {
        decidedByOld++;
        if (decidedByNew > 0)
          violations.push(
            `${streamSeq}: ${event.type} of ${event.taskId} under the old epoch after the new one wrote`,
          );
      } else if (event.epoch === newEpoch) decidedByNew++;
      else violations.push(`${streamSeq}: ${event.type} of ${event.taskId} under epoch ${event.epoch}`);
      const epochs = decisionEpochs.get(event.taskId) ?? [];
      if (event.epoch !== undefined && epochs.at(-1) !== event.epoch) epochs.push(event.epoch);
      decisionEpochs.set(event.taskId, epochs);
      const ignored = whyIgnored(before, event);
      if (ignored !== undefined)
        violations.push(`${streamSeq}: ${event.type} of ${event.taskId} written though ${ignored}`);
    }
    if (event.type === 'TaskSubmitted') submitted.set(event.taskId, (submitted.get(event.taskId) ?? 0) + 1);
    if (event.type === 'TaskAssigned') {
      const key = `${event.taskId}#${event.attempt}`;
      if (assignedAttempts.has(key)) violations.push(`${key} assigned twice`);
      assignedAttempts.add(key);
    }
    const after = evolveTask(before, event);
    if (!after || after === before) continue;
    tasks.set(event.taskId, after);
    if (isTerminal(after.status))
      finalTransitions.set(event.taskId, (finalTransitions.get(event.taskId) ?? 0) + 1);
  }
  for (const [taskId, task] of tasks) {
    if (!task.history.some((entry) => entry.event === 'TaskAssigned'))
      violations.push(`${taskId} never assigned`);
    if (finalTransitions.get(taskId) !== 1)
      violations.push(`${taskId} ended ${finalTransitions.get(taskId) ?? 0} times`);
  }
  return { violations, submitted, decisionEpochs, decidedByOld, decidedByNew };
}

test.run();
