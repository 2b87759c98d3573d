import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ReadModel } from '../../projections/read-model.js';
import type { TaskDocument } from '../../projections/task-document.js';
import { runCli } from '../support/cli.js';
import { makeTempDir } from '../support/nats.js';

test('an internal error says it is one, exits 70, and shows its stack only with CLOUDAI_DEBUG=1', async () => {
  const dataDir = makeTempDir('internal-error');
  try {
    // A task document without its fields: rendering it fails inside cloudai, not because of a flag.
    const readModel = ReadModel.open({ dataDir: dataDir.path });
    await readModel.write(() => readModel.putTask({ taskId: 't-broken' } as unknown as TaskDocument));
    await readModel.close();
    const env = { CLOUDAI_DATA_DIR: dataDir.path, CLOUDAI_DEBUG: '' };
    const plain = await runCli(['tasks'], env);
    assert.is(plain.code, 70, plain.stderr);
    assert.match(
      plain.stderr,
      /^cloudai: internal error: .+\nThis is a bug in cloudai, not something you did/,
    );
    assert.match(plain.stderr, /CLOUDAI_DEBUG=1/);
    assert.not.match(plain.stderr, /\n\s+at /);
    const debug = await runCli(['tasks'], { ...env, CLOUDAI_DEBUG: '1' });
    assert.is(debug.code, 70);
    assert.match(debug.stderr, /cloudai: internal error: /);
    assert.match(debug.stderr, /\n\s+at .+tasks-table\.js/);
  } finally {
    dataDir.remove();
  }
});

test('a usage error exits 1 with its advice on one line and no stack; the help lists the exit codes', async () => {
  const dataDir = makeTempDir('usage-error');
  try {
    const result = await runCli(['tasks', '--status', 'sleeping'], { CLOUDAI_DATA_DIR: dataDir.path });
    assert.is(result.code, 1);
    assert.is(result.stderr.trim().split('\n').length, 1, result.stderr);
    assert.not.match(result.stderr, /internal error/);
    const help = await runCli(['--help']);
    assert.match(help.stdout, /Exit codes: 0 done; 1 not done, .*; 70 internal error/);
  } finally {
    dataDir.remove();
  }
});

test('a timeout below the default interval stops only the commands that judge liveness', async () => {
  const dataDir = makeTempDir('timing');
  try {
    await ReadModel.open({ dataDir: dataDir.path }).close();
    const env = { CLOUDAI_DATA_DIR: dataDir.path, CLOUDAI_HEARTBEAT_TIMEOUT_MS: '1000' };
    for (const args of [['workers'], ['workers', '--json'], ['tasks'], ['disruption', 'status']]) {
      const result = await runCli(args, env);
      assert.is(result.code, 0, `${args.join(' ')}: ${result.stderr}`);
      assert.is(result.stderr, '');
    }
    const serve = await runCli(['serve'], env);
    assert.is(serve.code, 1);
    assert.match(
      serve.stderr,
      /heartbeat interval \(5000 ms\) must be shorter than the heartbeat timeout \(1000 ms\)/,
    );
  } finally {
    dataDir.remove();
  }
});

test('a bad worker flag is quoted back with what is accepted, never a validator message', async () => {
  const dataDir = makeTempDir('bad-flags');
  const env = { CLOUDAI_DATA_DIR: dataDir.path };
  const says = async (args: string[], message: string) => {
    const result = await runCli(args, env);
    assert.equal(
      [result.code, result.stdout, result.stderr],
      [1, '', `cloudai: ${message}\n`],
      args.join(' '),
    );
  };
  try {
    await says(['worker', '--id', 'w1', '--cpu', '-1'], '--cpu must be a number of cores ≥ 0, got "-1"');
    await says(
      ['worker', '--id', 'w1', '--memory', 'lots'],
      '--memory must be a number of GB ≥ 0, got "lots"',
    );
    await says(['worker', '--id', 'w1', '--gpu', '20000'], '--gpu must be at most 10000 GPUs, got "20000"');
    const rule = '1–64 characters of A–Z, a–z, 0–9, _ and -';
    await says(['worker', '--id', 'bad id!'], `--id "bad id!" is not a valid worker id: use ${rule}`);
    await says(
      ['credentials', 'worker', '--id', 'bad id!'],
      `--id "bad id!" is not a valid worker id: use ${rule}`,
    );
    await says(['credentials', 'worker'], `\`cloudai credentials worker\` needs --id ID: ${rule}`);
  } finally {
    dataDir.remove();
  }
});

test.run();
