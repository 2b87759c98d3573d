import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SimulatedClock } from 'xstate';
import { NO_RESOURCES } from '../../projections/resources.js';
import { ProcessRuntime } from '../../worker/runtimes/process-runtime.js';
import type { RunSpec } from '../../worker/runtimes/runtime.js';
import { type ExecutionResult, startExecution } from '../../worker/task-execution.js';

const specOf = (command: string): RunSpec => ({
  taskId: 't-1',
  attempt: 1,
  workerId: 'kim',
  image: 'busybox',
  command,
  requests: NO_RESOURCES,
  gpuDevices: [],
});
const hostRuntime = new ProcessRuntime();

test('simulated work ends exactly after --task-ms, on the given clock', () => {
  const clock = new SimulatedClock();
  const results: ExecutionResult[] = [];
  startExecution({ simulateMs: 10_000, clock, onExit: (result) => results.push(result) });
  clock.increment(9_999);
  assert.equal(results, []);
  clock.increment(1);
  assert.equal(results, [{ outcome: 'completed', durationMs: 10_000 }]);
});

test('stopped simulated work never reports', () => {
  const clock = new SimulatedClock();
  const results: ExecutionResult[] = [];
  const execution = startExecution({ simulateMs: 1_000, clock, onExit: (result) => results.push(result) });
  clock.increment(500);
  void execution.stop(0);
  clock.increment(5_000);
  assert.equal(results, []);
});

const run = (command: string) =>
  new Promise<ExecutionResult>((resolve) =>
    startExecution({
      spec: specOf(command),
      runtime: hostRuntime,
      simulateMs: 0,
      clock: new SimulatedClock(),
      onExit: resolve,
    }),
  );

test('a command runs with sh -c: exit 0 completes, anything else fails with the output tail', async () => {
  assert.equal(await run('test "$(echo hi)" = hi'), { outcome: 'completed', durationMs: 0 });
  const failed = await run('echo "disk full" >&2; exit 3');
  assert.equal(failed, {
    outcome: 'failed',
    durationMs: 0,
    reason: 'exit code 3; last output: disk full',
    exitCode: 3,
    failure: 'exit-code',
  });
});

test('stopping a command kills its whole process group, and it never reports', async () => {
  const results: ExecutionResult[] = [];
  const lines: string[] = [];
  const execution = startExecution({
    spec: specOf('sleep 30 & echo $!; wait'),
    runtime: hostRuntime,
    simulateMs: 0,
    clock: new SimulatedClock(),
    onOutput: (chunk) => lines.push(...chunk.toString('utf8').split('\n').filter(Boolean)),
    onExit: (result) => results.push(result),
  });
  const started = Date.now();
  while (lines.length === 0 && Date.now() - started < 5_000) await sleep(10);
  const sleepPid = Number(lines[0]);
  assert.ok(Number.isInteger(sleepPid) && sleepPid > 0, `no pid printed: ${lines.join('|')}`);
  void execution.stop(2_000);
  const alive = () => {
    try {
      process.kill(sleepPid, 0);
      return true;
    } catch {
      return false;
    }
  };
  while (alive() && Date.now() - started < 5_000) await sleep(10);
  assert.not.ok(alive(), 'the grandchild `sleep` outlived the stop');
  await sleep(100);
  assert.equal(results, []);
});

test.run();
