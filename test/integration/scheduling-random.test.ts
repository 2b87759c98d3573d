import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { fitsWithin, type Resources, sumResources } from '../../projections/resources.js';
import { evolveTask, holdingOf, isTerminal, type TaskDocument } from '../../projections/task-document.js';
import { evolveWorker, isSchedulable, type WorkerDocument } from '../../projections/worker-document.js';
import { operatorReplySchema } from '../../streams/contracts/operator-requests.js';
import { WORKER_CORDON_SUBJECT, WORKER_UNCORDON_SUBJECT } from '../../streams/contracts/subjects.js';
import type { SubmitReply } from '../../streams/contracts/task-events.js';
import { requestJson } from '../../streams/nats/request-reply.js';
import { waitFor } from '../support/nats.js';
import { seededRandom } from '../support/random.js';
import {
  readTaskEvents,
  readWorkerEvents,
  type StoredEvent,
  type StoredTaskEvent,
} from '../support/stream.js';
import { type TaskCluster, type TaskWorker, withTaskCluster } from '../support/task-cluster.js';

/** Set CLOUDAI_TEST_SEED to replay another schedule of operations. */
const SEED = Number(process.env.CLOUDAI_TEST_SEED ?? 20_261_127);
const STEPS = 70;

async function askFleet(cluster: TaskCluster, subject: string, workerId: string): Promise<unknown> {
  const reply = await requestJson(cluster.client, subject, { workerId }, operatorReplySchema, 5_000);
  return reply.ok ? reply.value : reply.detail;
}

test(`random worker stops, starts, partitions, cordons and submissions keep every invariant (seed ${SEED})`, async () => {
  const random = seededRandom(SEED);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
  await withTaskCluster(
    { heartbeatTimeoutMs: 300, heartbeatIntervalMs: 80, assignTimeoutMs: 300, assignRetryAfterMs: 1_000 },
    async (cluster) => {
      const workers: TaskWorker[] = [];
      for (let i = 0; i < 4; i++) {
        const capacity: Resources = {
          cpu: 2 + Math.floor(random() * 7),
          memoryGb: 4 + Math.floor(random() * 13),
          storageGb: 50,
          gpu: i === 0 ? 1 : Math.floor(random() * 2),
        };
        workers.push(
          await cluster.addWorker(`w${i}`, capacity, { taskMs: 100 + Math.floor(random() * 300) }),
        );
      }
      const up = new Set(workers.map((worker) => worker.workerId));
      const silent = new Set<string>();
      const cordoned = new Set<string>();
      const submissions: Array<Promise<SubmitReply>> = [];
      const operations: string[] = [];

      for (let step = 0; step < STEPS; step++) {
        const roll = random();
        if (roll < 0.5) {
          // Every request fits the smallest possible worker, so each task can finish eventually.
          const task = {
            cpu: 0.5 + Math.floor(random() * 4) / 2,
            memoryGb: 0.5 + Math.floor(random() * 7) / 2,
            gpu: random() < 0.1 ? 1 : 0,
          };
          submissions.push(cluster.submit(task));
          operations.push('submit');
        } else if (roll < 0.65 && up.size > 1) {
          const worker = pick(workers.filter((w) => up.has(w.workerId)));
          await worker.stop();
          up.delete(worker.workerId);
          operations.push(`stop ${worker.workerId}`);
        } else if (roll < 0.8 && up.size < workers.length) {
          const worker = pick(workers.filter((w) => !up.has(w.workerId)));
          worker.start();
          up.add(worker.workerId);
          operations.push(`start ${worker.workerId}`);
        } else if (roll < 0.9) {
          const worker = pick(workers.filter((w) => up.has(w.workerId)));
          if (silent.delete(worker.workerId)) worker.resume();
          else {
            silent.add(worker.workerId);
            worker.silence();
          }
          operations.push(`partition ${worker.workerId}`);
        } else if (roll < 0.95) {
          const { workerId } = pick(workers);
          const uncordon = cordoned.delete(workerId);
          if (!uncordon) cordoned.add(workerId);
          const reply = await askFleet(
            cluster,
            uncordon ? WORKER_UNCORDON_SUBJECT : WORKER_CORDON_SUBJECT,
            workerId,
          );
          assert.equal(reply, { ok: true }, `${uncordon ? 'uncordon' : 'cordon'} ${workerId}`);
          operations.push(`${uncordon ? 'uncordon' : 'cordon'} ${workerId}`);
        } else {
          const open = cluster.tasks().filter((task) => !isTerminal(task.status));
          if (open.length > 0) {
            await cluster.cancel(pick(open).taskId);
            operations.push('cancel');
          }
        }
        await sleep(Math.floor(random() * 120));
      }
      // Everyone back and schedulable, and the queue drains.
      for (const worker of workers) {
        if (!up.has(worker.workerId)) worker.start();
        if (silent.has(worker.workerId)) worker.resume();
      }
      for (const workerId of cordoned) {
        assert.equal(await askFleet(cluster, WORKER_UNCORDON_SUBJECT, workerId), { ok: true });
      }
      const replies = await Promise.all(submissions);
      assert.ok(
        replies.every((reply) => reply.ok),
        'every submission was accepted',
      );
      await waitFor(
        () =>
          cluster.tasks().length === submissions.length &&
          cluster.tasks().every((task) => isTerminal(task.status)),
        20_000,
        `every task finished (operations: ${operations.join(', ')})`,
      );

      const workerEvents = await readWorkerEvents(cluster.client);
      const taskEvents = await readTaskEvents(cluster.client);
      const audit = auditPlacements(workerEvents, taskEvents);
      assert.equal(audit.violations, [], `seed ${SEED}: ${audit.violations.join('\n')}`);
      // The run must have exercised what it checks.
      assert.ok(audit.assignments >= submissions.length, `${audit.assignments} assignments`);
      assert.ok(audit.requeues >= 1, 'some worker loss requeued work');
      assert.ok(audit.workersUsed >= 3, `tasks ran on ${audit.workersUsed} workers only`);
      assert.ok(
        operations.some((operation) => operation.startsWith('cordon')),
        'some worker was cordoned',
      );
      const types = new Set(workerEvents.map(({ event }) => event.type));
      assert.ok(types.has('WorkerSuspected') && types.has('WorkerCordoned'), [...types].join(', '));
      assert.equal(
        cluster
          .tasks()
          .map((task) => task.status)
          .filter((status) => !isTerminal(status)),
        [],
      );
    },
  );
});

interface Audit {
  violations: string[];
  assignments: number;
  requeues: number;
  workersUsed: number;
}

/**
 * Folds both streams as an auditor would: every TaskAssigned must name a worker that was
 * schedulable (active, not flapping, not cordoned) in WORKER_EVENTS up to its
 * `basedOnWorkerSeq`, with room for the task then (no over-allocation), and every task must
 * end in exactly one final state.
 */
function auditPlacements(workerEvents: StoredEvent[], taskEvents: StoredTaskEvent[]): Audit {
  const violations: string[] = [];
  const workersAt = (streamSeq: number) => {
    const workers = new Map<string, WorkerDocument>();
    for (const { streamSeq: seq, event } of workerEvents) {
      if (seq > streamSeq) break;
      workers.set(event.workerId, evolveWorker(workers.get(event.workerId), event));
    }
    return workers;
  };
  const tasks = new Map<string, TaskDocument>();
  const holdings = new Map<string, Map<string, Resources>>();
  const assignedAttempts = new Set<string>();
  const finalTransitions = new Map<string, number>();
  const workersUsed = new Set<string>();
  let assignments = 0;
  let requeues = 0;
  for (const { event } of taskEvents) {
    if (event.type === 'TaskAssigned') {
      assignments++;
      const key = `${event.taskId}#${event.attempt}`;
      if (assignedAttempts.has(key)) violations.push(`${key} assigned twice`);
      assignedAttempts.add(key);
      const worker = workersAt(event.basedOnWorkerSeq).get(event.workerId);
      if (!worker || !isSchedulable(worker)) {
        const state = worker
          ? `${worker.status}${worker.cordoned ? ', cordoned' : ''}${worker.flapping ? ', flapping' : ''}`
          : 'unknown';
        violations.push(`${key} assigned to ${event.workerId}, ${state} at seq ${event.basedOnWorkerSeq}`);
      }
    }
    if (event.type === 'TaskRequeued') requeues++;
    const before = tasks.get(event.taskId);
    const after = evolveTask(before, event);
    if (!after || after === before) continue;
    tasks.set(event.taskId, after);
    const held = holdingOf(before);
    if (held) holdings.get(held.workerId)?.delete(event.taskId);
    const holds = holdingOf(after);
    if (holds) {
      const onWorker = holdings.get(holds.workerId) ?? new Map<string, Resources>();
      onWorker.set(event.taskId, holds.requests);
      holdings.set(holds.workerId, onWorker);
      workersUsed.add(holds.workerId);
      if (event.type === 'TaskAssigned') {
        const capacity = workersAt(event.basedOnWorkerSeq).get(event.workerId)?.capacity;
        const allocated = sumResources(onWorker.values());
        if (!capacity || !fitsWithin(allocated, capacity)) {
          violations.push(
            `${event.workerId} over-allocated by ${event.taskId}: ${JSON.stringify(allocated)}`,
          );
        }
      }
    }
    if (isTerminal(after.status))
      finalTransitions.set(event.taskId, (finalTransitions.get(event.taskId) ?? 0) + 1);
  }
  for (const [taskId, task] of tasks) {
    if (!isTerminal(task.status)) violations.push(`${taskId} ended ${task.status}`);
    if (finalTransitions.get(taskId) !== 1)
      violations.push(`${taskId} ended ${finalTransitions.get(taskId) ?? 0} times`);
  }
  return { violations, assignments, requeues, workersUsed: workersUsed.size };
}

test.run();
