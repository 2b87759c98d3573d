import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ConfigError, resolveConfig } from '../../cli/config.js';
import { ContainerRuntime, containerName, runArguments } from '../../worker/runtimes/container-runtime.js';
import { imageReferenceProblem } from '../../worker/runtimes/image-reference.js';
import type { RunOutcome, RunSpec } from '../../worker/runtimes/runtime.js';

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

/** How a run of `spec` ends, with a runtime binary that is never reached. */
function outcomeOf(spec: RunSpec): Promise<RunOutcome> {
  return new Promise((resolve) =>
    new ContainerRuntime('podman', '/nonexistent/podman').start(spec, {
      onOutput: () => {},
      onExit: resolve,
    }),
  );
}

test('bad input fails the attempt before the runtime is asked: an invalid image, a command with a NUL', async () => {
  const invalid = await outcomeOf({ ...SPEC, image: '--privileged' });
  assert.is(invalid.outcome === 'failed' && invalid.failure, 'invalid-image');
  const rejected = await outcomeOf({ ...SPEC, command: 'echo a\u0000b' });
  assert.is(rejected.outcome === 'failed' && rejected.failure, 'command-rejected');
  assert.match(
    rejected.outcome === 'failed' ? rejected.reason : '',
    /podman refused the command: .*null bytes/,
  );
});

test('a runtime that is not there fails the attempt as a runtime error', async () => {
  const gone = await outcomeOf(SPEC);
  assert.is(gone.outcome === 'failed' && gone.failure, 'runtime-error');
  assert.match(gone.outcome === 'failed' ? gone.reason : '', /podman could not be started: .*ENOENT/);
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
