import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { inferTaskType, TASK_DEFAULTS, validateTaskRequest } from '../../scheduler/task-model.js';
import { DEFAULT_SPEC } from '../support/tasks.js';

const AT = 1_764_300_000_000;

function problemsOf(request: Parameters<typeof validateTaskRequest>[0]): string[] {
  const result = validateTaskRequest(request, AT);
  return result.ok ? [] : result.problems.map((problem) => problem.message);
}

test('defaults are the original CloudAI ones: 1 cpu, 0.5 GB, 1 GB storage, 0 GPU, k 2.0', () => {
  const result = validateTaskRequest({ image: 'python:3.12' }, AT);
  assert.ok(result.ok);
  if (!result.ok) return;
  assert.equal(result.task, { ...DEFAULT_SPEC, submittedAt: AT });
  assert.equal(TASK_DEFAULTS, { cpu: 1, memoryGb: 0.5, storageGb: 1, gpu: 0, k: 2.0 });
});

test('a task without an image is valid: the worker runs its command, or simulates it', () => {
  const result = validateTaskRequest({ cpu: 1 }, AT);
  assert.ok(result.ok);
  assert.is(result.ok && 'image' in result.task, false);
});

test('the type is inferred from the requests when absent, and kept when given', () => {
  const cases: Array<[Parameters<typeof inferTaskType>[0], string]> = [
    [{ cpu: 8, memoryGb: 32, storageGb: 0, gpu: 4 }, 'gpu-training'],
    [{ cpu: 4, memoryGb: 32, storageGb: 0, gpu: 4 }, 'gpu-inference'],
    [{ cpu: 1, memoryGb: 1, storageGb: 0, gpu: 1 }, 'gpu-inference'],
    [{ cpu: 2, memoryGb: 16, storageGb: 0, gpu: 0 }, 'memory-heavy'],
    [{ cpu: 8, memoryGb: 8, storageGb: 0, gpu: 0 }, 'cpu-heavy'],
    [{ cpu: 0.5, memoryGb: 1, storageGb: 0, gpu: 0 }, 'cpu-light'],
    [{ cpu: 0, memoryGb: 1, storageGb: 0, gpu: 0 }, 'mixed'],
  ];
  for (const [requests, type] of cases) assert.is(inferTaskType(requests), type, JSON.stringify(requests));
  const given = validateTaskRequest({ image: 'x', cpu: 8, type: 'mixed' }, AT);
  assert.is(given.ok && given.task.type, 'mixed');
});

test('bad requests are explained field by field, all at once', () => {
  assert.equal(problemsOf({ image: 'x', cpu: -1, type: 'quantum', k: 3 }), [
    'cpu must be a number of cores ≥ 0, got -1',
    'type "quantum" is not a task type: use one of cpu-light, cpu-heavy, memory-heavy, gpu-inference, gpu-training, mixed, or leave it out to infer it from the requests',
    'k (the SLA multiplier) must be between 1.5 and 2.5, got 3',
  ]);
  assert.equal(problemsOf({ image: ' ' }), [
    'image is empty: name a container image, e.g. python:3.12, or leave it out',
  ]);
  assert.equal(problemsOf({ image: 'x', gpu: 1.5 }), ['gpu must be a whole number of GPUs, got 1.5']);
  assert.equal(problemsOf({ image: 'x', memoryGb: Number.NaN }), [
    'memoryGb must be a number of GB ≥ 0, got not a number',
  ]);
  assert.equal(problemsOf({ image: 'x', k: 1.49 }), [
    'k (the SLA multiplier) must be between 1.5 and 2.5, got 1.49',
  ]);
  assert.equal(problemsOf({ image: 'x', k: 1.5 }), []);
  assert.equal(problemsOf({ image: 'x', k: 2.5 }), []);
  assert.equal(problemsOf({ image: 'x', command: '' }), [
    'command is empty: give a shell command, or leave it out',
  ]);
});

test('problems name fields the way the caller typed them', () => {
  const result = validateTaskRequest({ image: 'x', memoryGb: -4 }, AT, (field) =>
    field === 'memoryGb' ? '--memory' : `--${field}`,
  );
  assert.equal(result.ok ? [] : result.problems, [
    { field: 'memoryGb', message: '--memory must be a number of GB ≥ 0, got -4' },
  ]);
});

test.run();
