import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { hostTaskRule } from '../../scheduler/host-tasks.js';
import {
  emptyQueueMemory,
  type PassDecision,
  type PlacementWorker,
  PlacementWorkers,
  planPass,
} from '../../scheduler/placement.js';
import { createRoundRobinPolicy } from '../../scheduler/policies/round-robin.js';
import type { WorkerRuntime } from '../../streams/contracts/heartbeat.js';
import { taskFrom } from '../support/tasks.js';

const NOW = 1_764_300_000_000;

type Worker = PlacementWorker & { runtime?: WorkerRuntime };

function worker(workerId: string, runtime?: WorkerRuntime, busy = false): Worker {
  const free = { cpu: 0, memoryGb: 0, storageGb: 0, gpu: 0 };
  return {
    workerId,
    status: 'active',
    cordoned: false,
    flapping: false,
    capacity: { cpu: 4, memoryGb: 8, storageGb: 100, gpu: 0 },
    allocated: busy ? { cpu: 4, memoryGb: 8, storageGb: 0, gpu: 0 } : free,
    runtime,
  };
}

const inImage = taskFrom('t-img', NOW - 1_000, { image: 'python:3.12', command: 'python train.py' });
// DEFAULT_SPEC of the helper names an image: this one has none.
const { image: _none, ...bare } = taskFrom('t-bare', NOW - 800, { command: 'uname -a' });
const simulated = taskFrom('t-sim', NOW - 500, { image: 'python:3.12' });

/** A pass as the scheduler runs it: the rule's exclusions in the pass, its words on the reasons. */
function place(workers: Worker[], allowHostTasks = false): Map<string, PassDecision> {
  const queue = [inImage, bare, simulated];
  const ids = (runtime: (r: WorkerRuntime | undefined) => boolean) =>
    new Set(workers.filter((w) => runtime(w.runtime)).map((w) => w.workerId));
  const rule = hostTaskRule({
    queue,
    hostWorkers: ids((r) => r === 'process'),
    containerWorkers: ids((r) => r === 'podman' || r === 'docker'),
    schedulableCount: workers.length,
    allowHostTasks,
    excludedWorkers: () => undefined,
  });
  const decisions = planPass({
    queue,
    workers: PlacementWorkers.of(workers),
    excludedWorkers: rule.excludedWorkers,
    policy: createRoundRobinPolicy(),
    now: NOW,
    bypassLimit: 3,
    memory: emptyQueueMemory(),
  });
  return new Map(
    decisions.map((decision) => [
      decision.task.taskId,
      decision.kind === 'wait'
        ? { ...decision, reason: rule.explain(decision.task, decision.reason) }
        : decision,
    ]),
  );
}

const where = (decision: PassDecision | undefined) =>
  decision?.kind === 'assign' ? decision.workerId : decision?.kind === 'wait' ? decision.reason : 'none';

test('no command runs on a process worker unless allowed; the reason says how to allow it', () => {
  const decisions = place([worker('kim', 'process')]);
  assert.is(
    where(decisions.get('t-img')),
    'it runs a command, and kim runs tasks on the host (runtime process): ' +
      'start a worker with podman or docker, or serve with --allow-host-tasks to run it on the host',
  );
  assert.match(
    where(decisions.get('t-bare')),
    /^it runs a command and names no image, and kim runs tasks on the host/,
  );
  // A task without a command runs nothing on the host: it is simulated anywhere.
  assert.is(where(decisions.get('t-sim')), 'kim');
  const allowed = place([worker('kim', 'process')], true);
  assert.equal([where(allowed.get('t-img')), where(allowed.get('t-bare'))], ['kim', 'kim']);
});

test('a command without an image is not placed on a container worker: it has nothing to run it in', () => {
  const decisions = place([worker('tessa', 'podman')]);
  assert.is(where(decisions.get('t-img')), 'tessa');
  assert.is(
    where(decisions.get('t-bare')),
    'it runs a command and names no image, and tessa runs tasks only in their image: ' +
      'give it --image, or serve with --allow-host-tasks and start a worker with --runtime process',
  );
});

test('workers that name no runtime are not judged', () => {
  const decisions = place([worker('old')]);
  assert.equal([...decisions.values()].map(where), ['old', 'old', 'old']);
});

test('when it waits for another reason too, the workers the rule kept it from are named', () => {
  const decisions = place([worker('kim', 'process'), worker('tessa', 'docker', true)]);
  assert.match(
    where(decisions.get('t-img')),
    /^no schedulable worker has .* free.*; kim runs tasks on the host \(runtime process\) \(start a worker with podman or docker, or serve with --allow-host-tasks to run it on the host\)$/,
  );
});

test.run();
