import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ConfigError, resolveConfig } from '../../cli/config.js';
import { containerName, runArguments } from '../../worker/runtimes/container-runtime.js';
import { imageReferenceProblem } from '../../worker/runtimes/image-reference.js';
import type { RunSpec } from '../../worker/runtimes/runtime.js';

const SPEC: RunSpec = {
  taskId: 't-abc',
  attempt: 2,
  workerId: 'kim',
  image: 'docker.io/library/python:3.12',
  command: 'python -c "print(1)"',
  requests: { cpu: 1.5, memoryGb: 0.5, storageGb: 1, gpu: 0 },
  gpuDevices: [],
};

test('image references: the grammar docker and podman accept', () => {
  for (const valid of [
    'busybox',
    'python:3.12',
    'docker.io/library/python:3.12-slim',
    'localhost/cloudai-test:1',
    'registry.example.com:5000/team/model_v2__x:latest',
    `alpine@sha256:${'a'.repeat(64)}`,
    '[::1]:5000/x/y:z',
  ]) {
    assert.is(imageReferenceProblem(valid), undefined, valid);
  }
  for (const invalid of [
    '',
    'Python:3',
    'Not A/Valid:Ref!',
    '-v',
    '--privileged',
    'a//b',
    'x:',
    'x:-tag',
    'x@sha256:12',
  ]) {
    assert.match(imageReferenceProblem(invalid) ?? '', /is not a valid image reference/, invalid);
  }
  assert.match(imageReferenceProblem(`${'a'.repeat(256)}:1`) ?? '', /longer than 255 characters/);
});

test('a run is named and labelled after task, attempt and worker, with the requests as limits', () => {
  assert.is(containerName(SPEC), 'cloudai-kim-t-abc-2');
  const args = runArguments('podman', SPEC);
  const joined = args.join(' ');
  assert.ok(joined.startsWith('run --name cloudai-kim-t-abc-2 '), joined);
  for (const label of ['cloudai.task=t-abc', 'cloudai.attempt=2', 'cloudai.worker=kim']) {
    assert.ok(args.includes(label), label);
  }
  assert.match(joined, /--cpus 1\.5 /);
  assert.match(joined, /--memory 524288k --memory-swap 524288k /);
  assert.equal(args.slice(-5), ['--entrypoint', 'sh', SPEC.image, '-c', SPEC.command]);
  assert.not.match(joined, /--gpus|--device/);
});

test('GPUs: docker takes --gpus devices, podman CDI devices; no request, no limit', () => {
  const withGpus = { ...SPEC, gpuDevices: [0, 2] };
  assert.match(runArguments('docker', withGpus).join(' '), /--gpus device=0,2 /);
  const podman = runArguments('podman', withGpus).join(' ');
  assert.match(podman, /--device nvidia\.com\/gpu=0 --device nvidia\.com\/gpu=2 /);
  const unlimited = runArguments('podman', {
    ...SPEC,
    requests: { cpu: 0, memoryGb: 0, storageGb: 0, gpu: 0 },
  });
  assert.not.ok(unlimited.includes('--cpus') || unlimited.includes('--memory'));
});

test('--runtime and --allow-host-tasks are checked like every setting', () => {
  assert.is(resolveConfig({}, {}).runtime, 'auto');
  assert.is(resolveConfig({ runtime: 'docker' }, {}).runtime, 'docker');
  assert.throws(
    () => resolveConfig({ runtime: 'lxc' }, {}),
    (error: Error) =>
      error instanceof ConfigError &&
      /--runtime "lxc" is not a runtime: use one of auto, podman/.test(error.message),
  );
  assert.is(resolveConfig({}, {}).allowHostTasks, false);
  assert.is(resolveConfig({ allowHostTasks: true }, {}).allowHostTasks, true);
  assert.is(resolveConfig({}, { CLOUDAI_ALLOW_HOST_TASKS: '1' }).allowHostTasks, true);
  assert.throws(
    () => resolveConfig({}, { CLOUDAI_ALLOW_HOST_TASKS: 'maybe' }),
    /CLOUDAI_ALLOW_HOST_TASKS must be true or false \(or 1 or 0\), got "maybe"/,
  );
});

test.run();
