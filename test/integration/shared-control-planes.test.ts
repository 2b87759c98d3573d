import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { jetstream } from '@nats-io/jetstream';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { ClusterStatus } from '../../cli/commands/cluster.js';
import type { ControlPlane } from '../../control-plane/control-plane.js';
import { ALL_PARTITIONS, partitionOf, WORKER_PARTITIONS } from '../../streams/contracts/partitions.js';
import {
  WORKER_CORDON_SUBJECT,
  WORKER_UNCORDON_SUBJECT,
  workerEventSubject,
} from '../../streams/contracts/subjects.js';
import { encodeJson } from '../../streams/util/json-codec.js';
import { projectRoot } from '../../streams/util/project-root.js';
import { runCli } from '../support/cli.js';
import { TestCluster } from '../support/cluster.js';
import { makeTempDir, waitFor } from '../support/nats.js';
import { readTaskEvents, readWorkerEvents, readWorkerStreamEntries } from '../support/stream.js';
import { workersPerPartition } from '../support/workers.js';

const HEARTBEAT_TIMEOUT_MS = 3_000;
const HEARTBEAT_INTERVAL_MS = 200;
const LEASE_TTL_MS = 3_000;
/** How long a process whose control plane failed to start may take to exit on its own. */
const EXIT_BOUND_MS = 20_000;

/** One worker in each partition, so every control plane judges some. */
const WORKERS = workersPerPartition('w', 1);

interface Context {
  cluster: TestCluster;
  /** The epoch under which the first control plane held each partition while alone. */
  firstEpochs: Map<number, number>;
  first: ControlPlane;
  second: ControlPlane;
  secondDataDir: ReturnType<typeof makeTempDir>;
}

const shared = suite<Context>('two control planes on one NATS share the workers and the scheduler');

shared.before(async (context) => {
  context.cluster = await TestCluster.start({
    heartbeatTimeoutMs: HEARTBEAT_TIMEOUT_MS,
    heartbeatIntervalMs: HEARTBEAT_INTERVAL_MS,
  });
  context.secondDataDir = makeTempDir('second-control-plane');
  context.first = await context.cluster.startControlPlane({ leaseTtlMs: LEASE_TTL_MS });
  const nc = await context.cluster.connect('workers');
  for (const workerId of WORKERS) context.cluster.worker(nc, workerId).start();
  await waitFor(
    () => WORKERS.every((id) => context.cluster.statusOf(id) === 'active'),
    10_000,
    'workers active',
  );
});

shared.after(async (context) => {
  await context.second?.close().catch(() => {});
  await context.first?.close().catch(() => {});
  await context.cluster?.close();
  context.secondDataDir?.remove();
});

function partitionsOf(controlPlane: ControlPlane): number[] {
  return controlPlane.leases
    .heldRoles()
    .flatMap(({ role, ready }) => (role.kind === 'partition' && ready ? [role.partition] : []));
}

shared('a lone control plane holds every partition and the scheduler', (context) => {
  const { first } = context;
  context.firstEpochs = new Map(
    first.leases
      .heldRoles()
      .flatMap(({ role, epoch }) => (role.kind === 'partition' ? [[role.partition, epoch]] : [])),
  );
  assert.equal(
    partitionsOf(first).sort((a, b) => a - b),
    [...ALL_PARTITIONS],
  );
  assert.ok(first.schedulerRole.current, 'it runs the scheduler');
});

shared('a second one is handed half the partitions; no worker is suspected on the way', async (context) => {
  const { cluster } = context;
  const watcher = await cluster.connect('watcher');
  const before = (await readWorkerEvents(watcher)).length;
  context.second = await cluster.startControlPlane({
    leaseTtlMs: LEASE_TTL_MS,
    dataDir: context.secondDataDir.path,
  });
  const took = await waitFor(
    () =>
      partitionsOf(context.first).length === WORKER_PARTITIONS / 2 &&
      partitionsOf(context.second).length === WORKER_PARTITIONS / 2,
    LEASE_TTL_MS,
    'six partitions each',
  );
  console.log(
    `  measured: handover of 6 partitions to a new control plane took ${took} ms (lease TTL ${LEASE_TTL_MS} ms)`,
  );
  // Each worker's heartbeats reach its new holder: still active a whole timeout later.
  await waitFor(
    () => context.second.fleet.size === WORKERS.length / 2,
    2_000,
    'the second judges its workers',
  );
  const settleUntil = Date.now() + HEARTBEAT_TIMEOUT_MS + 500;
  await waitFor(() => Date.now() >= settleUntil, HEARTBEAT_TIMEOUT_MS + 1_000, 'a timeout to pass');
  const after = (await readWorkerEvents(watcher)).slice(before).map(({ event }) => event);
  assert.equal(
    after.filter((event) => event.type === 'WorkerSuspected' || event.type === 'WorkerInactive'),
    [],
    'no liveness event for live workers',
  );
  assert.ok(WORKERS.every((id) => cluster.statusOf(id) === 'active'));
  assert.ok(
    [context.first, context.second].filter((controlPlane) => controlPlane.schedulerRole.current).length === 1,
    'exactly one runs the scheduler',
  );
});

shared(
  'cloudai cluster status shows both, their partitions and the scheduler',
  async ({ cluster, first, second }) => {
    const result = await runCli(['cluster', 'status', '--json'], cluster.env());
    assert.is(result.code, 0, result.stderr);
    const status = JSON.parse(result.stdout) as ClusterStatus;
    const ids = [first.leases.controlPlaneId, second.leases.controlPlaneId].sort();
    assert.equal(
      status.controlPlanes.map((controlPlane) => controlPlane.controlPlaneId),
      ids,
    );
    for (const controlPlane of status.controlPlanes)
      assert.is(controlPlane.partitions.length, WORKER_PARTITIONS / 2);
    assert.equal(status.unheldPartitions, []);
    assert.is(status.schedulerHeld, true);
    assert.is(status.controlPlanes.filter((controlPlane) => controlPlane.scheduler !== null).length, 1);
    assert.equal(status.streams.find((stream) => stream.stream === 'WORKER_EVENTS')?.replicas, 1);
    const table = await runCli(['cluster', 'status'], cluster.env());
    assert.match(table.stdout, /partitions \d+(,\d+){5} \(renewed within/);
    assert.match(table.stdout, /stream WORKER_EVENTS: 1 replica/);
  },
);

shared(
  'a late event of the previous holder, stored after the takeover, is applied by no reader',
  async (context) => {
    const { cluster, first, second, firstEpochs } = context;
    const workerId = WORKERS.find((id) => partitionsOf(second).includes(partitionOf(id))) as string;
    const partition = partitionOf(workerId);
    const nc = await cluster.connect('late-writer');
    const entries = await readWorkerStreamEntries(nc);
    const marker = entries.find(
      ({ event }) =>
        event.type === 'PartitionTaken' &&
        event.partition === partition &&
        event.controlPlane === second.leases.controlPlaneId,
    );
    assert.ok(marker, 'the new holder stored its marker');
    const document = second.readModel.getWorker(workerId);
    const staleEpoch = firstEpochs.get(partition) as number;
    assert.ok(staleEpoch < (second.leases.epochOf({ kind: 'partition', partition }) as number));
    // What the first would have sent just before it handed the partition on, held up on the way.
    const late = {
      type: 'WorkerInactive',
      workerId,
      at: Date.now(),
      seq: (document?.lastEventSeq ?? 0) + 1,
      lastHeartbeatAt: Date.now() - HEARTBEAT_TIMEOUT_MS,
      silentForMs: HEARTBEAT_TIMEOUT_MS,
      controlPlane: first.leases.controlPlaneId,
      epoch: staleEpoch,
    };
    const ack = await jetstream(nc).publish(workerEventSubject(workerId), encodeJson(late));
    await Promise.all([first.projector.waitForPosition(ack.seq), second.projector.waitForPosition(ack.seq)]);
    assert.is(first.readModel.getWorker(workerId)?.status, 'active', "the first's read model skipped it");
    assert.is(second.readModel.getWorker(workerId)?.status, 'active', "the second's read model skipped it");
  },
);

shared(
  'a cordon sent to either lands with the holder of the worker; its event names its writer',
  async ({ cluster, first, second }) => {
    const nc = await cluster.connect('operator');
    for (const workerId of WORKERS) {
      const reply = await nc.request(WORKER_CORDON_SUBJECT, encodeJson({ workerId }), { timeout: 10_000 });
      assert.equal(JSON.parse(new TextDecoder().decode(reply.data)), { ok: true }, workerId);
    }
    const events = (await readWorkerEvents(nc))
      .map(({ event }) => event)
      .filter((event) => event.type === 'WorkerCordoned');
    assert.is(events.length, WORKERS.length);
    for (const event of events) {
      const holder = partitionsOf(first).includes(partitionOf(event.workerId)) ? first : second;
      assert.is(event.controlPlane, holder.leases.controlPlaneId, `${event.workerId} cordoned by its holder`);
      assert.ok((event.epoch ?? 0) > 0, 'with its epoch');
    }
    for (const workerId of WORKERS) {
      const reply = await nc.request(WORKER_UNCORDON_SUBJECT, encodeJson({ workerId }), { timeout: 10_000 });
      assert.equal(JSON.parse(new TextDecoder().decode(reply.data)), { ok: true }, workerId);
    }
  },
);

shared(
  'a control plane whose start fails leaves nothing running: its process can exit',
  async ({ cluster }) => {
    const dataDir = makeTempDir('failed-start');
    const script = join(projectRoot(), 'test', 'support', 'failed-start.ts');
    try {
      // The lease bucket expires entries after LEASE_TTL_MS: a different TTL fails the start once the
      // read model, the projectors and the connections are up.
      const startedAt = Date.now();
      const outcome = await new Promise<{ code: number | null; killed: boolean; output: string }>(
        (resolve) => {
          const child = execFile(
            process.execPath,
            ['--import', 'tsx', script, cluster.server.url, dataDir.path, String(LEASE_TTL_MS * 2)],
            { timeout: EXIT_BOUND_MS },
            (_error, stdout, stderr) =>
              resolve({ code: child.exitCode, killed: child.killed, output: stdout + stderr }),
          );
        },
      );
      assert.match(outcome.output, /start failed: .*CLOUDAI_LEASE_TTL_MS/, outcome.output);
      assert.is(outcome.killed, false, `still running ${EXIT_BOUND_MS} ms after its start failed`);
      assert.is(outcome.code, 0, outcome.output);
      console.log(
        `  measured: the process with the failed start exited ${Date.now() - startedAt} ms after it was spawned`,
      );
    } finally {
      dataDir.remove();
    }
  },
);

shared(
  'closing one hands everything to the other at once, not after the TTL',
  async ({ cluster, first, second }) => {
    const closedAt = Date.now();
    await first.close();
    const took = await waitFor(
      () => partitionsOf(second).length === WORKER_PARTITIONS,
      LEASE_TTL_MS / 2,
      'all partitions',
    );
    await waitFor(() => second.schedulerRole.current !== undefined, LEASE_TTL_MS / 2, 'the scheduler');
    console.log(
      `  measured: after a clean stop the other held all 12 partitions in ${Date.now() - closedAt} ms (${took} ms after close returned)`,
    );
    // These workers run no agent: the scheduler's assignment shows it runs, and where.
    const result = await runCli(['task', 'submit', '--cpu', '1'], cluster.env());
    assert.is(result.code, 0, result.stderr);
    const taskId = /^task (t-[a-z0-9]+)/.exec(result.stdout)?.[1];
    const epoch = second.leases.epochOf({ kind: 'scheduler' });
    assert.ok(epoch, 'the second holds the scheduler');
    const nc = await cluster.connect('tasks');
    await waitFor(
      async () =>
        (await readTaskEvents(nc)).some(
          ({ event }) => event.taskId === taskId && event.type === 'TaskAssigned' && event.epoch === epoch,
        ),
      5_000,
      'an assignment by the new scheduler, with its epoch',
    );
    assert.ok(WORKERS.every((id) => second.fleet.statusOf(id) === 'active'));
  },
);

shared.run();
