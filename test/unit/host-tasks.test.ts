import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { hostTaskRule } from '../../scheduler/host-tasks.js';
import { emptyQueueMemory, type PlacementWorker, planPass } from '../../scheduler/placement.js';
import { createRoundRobinPolicy } from '../../scheduler/policies/round-robin.js';
import type { WorkerRuntime } from '../../streams/contracts/heartbeat.js';
import { taskFrom } from '../support/tasks.js';

const NOW = 1_764_300_000_000;

type Worker = PlacementWorker & { runtime?: WorkerRuntime };

function worker(workerId: string, runtime?: WorkerRuntime): Worker {
  return {
    workerId,
    status: 'active',
    cordoned: false,
    flapping: false,
    capacity: { cpu: 4, memoryGb: 8, storageGb: 100, gpu: 0 },
    allocated: { cpu: 0, memoryGb: 0, storageGb: 0, gpu: 0 },
    runtime,
  };
}

const withCommand = taskFrom('t-cmd', NOW - 1_000, { image: 'python:3.12', command: 'python train.py' });
const simulated = taskFrom('t-sim', NOW - 500, { image: 'python:3.12' });

/** A pass as the scheduler runs it: the rule's exclusion in the pass, its words on the reasons. */
function place(workers: Worker[], allowHostTasks = false) {
  const queue = [withCommand, simulated];
  const rule = hostTaskRule(queue, workers, allowHostTasks, () => false);
  return planPass({
    queue,
    workers,
    isExcluded: rule.isExcluded,
    policy: createRoundRobinPolicy(),
    now: NOW,
    bypassLimit: 3,
    memory: emptyQueueMemory(),
  }).map((decision) =>
    decision.kind === 'wait'
      ? { ...decision, reason: rule.explain(decision.task, decision.reason) }
      : decision,
  );
}

test('a task with a command is not placed on a process worker, and its reason says how to allow it', () => {
  const [command, sim] = place([worker('kim', 'process')]);
  assert.is(command?.kind, 'wait');
  assert.is(
    command?.kind === 'wait' ? command.reason : '',
    'it runs a command, and kim runs tasks on the host (runtime process), not in their image: ' +
      'start a worker with podman or docker, or serve with --allow-host-tasks to run it there',
  );
  // A task without a command runs nothing on the host: it is simulated anywhere.
  assert.equal(sim?.kind === 'assign' ? sim.workerId : sim?.kind, 'kim');
});

test('allowed, or on a container worker, or on a worker that names no runtime, it is placed', () => {
  assert.equal(
    place([worker('kim', 'process')], true).map((decision) => decision.kind),
    ['assign', 'assign'],
  );
  const [onPodman] = place([worker('kim', 'process'), worker('tessa', 'podman')]);
  assert.equal(onPodman?.kind === 'assign' ? onPodman.workerId : onPodman?.kind, 'tessa');
  const [unknown] = place([worker('old')]);
  assert.equal(unknown?.kind === 'assign' ? unknown.workerId : unknown?.kind, 'old');
});

test('when it waits for another reason, the process workers it skipped are named too', () => {
  const busy = { ...worker('tessa', 'docker'), allocated: { cpu: 4, memoryGb: 8, storageGb: 0, gpu: 0 } };
  const [command] = place([worker('kim', 'process'), busy]);
  assert.is(command?.kind, 'wait');
  assert.match(
    command?.kind === 'wait' ? command.reason : '',
    /^no schedulable worker has .* free .*; kim runs tasks on the host \(runtime process\), not in their image \(serve with --allow-host-tasks to use them too\)$/,
  );
});

test.run();
