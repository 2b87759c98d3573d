import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DEFAULT_CONFIG, resolveClientConfig, resolveConfig } from '../../cli/config.js';
import { findRunningUp, removeRunningUp, runningUpPath, writeRunningUp } from '../../cli/running-up.js';
import { makeTempDir } from '../support/nats.js';

const UP = {
  natsUrl: 'nats://127.0.0.1:4333',
  tlsCa: '/data/tls/ca.pem',
  heartbeatIntervalMs: 1_000,
  heartbeatTimeoutMs: 9_000,
};

/** A pid that belonged to a process that has exited. */
function deadPid(): number {
  return spawnSync(process.execPath, ['-e', '0']).pid as number;
}

test('settings given neither as flag nor in the environment come from the running up of the data dir', () => {
  const dataDir = makeTempDir('running-up');
  try {
    writeRunningUp(dataDir.path, { pid: process.pid, ...UP });
    const joined = resolveClientConfig({ dataDir: dataDir.path }, {});
    assert.equal(
      [joined.natsUrl, joined.tlsCa, joined.heartbeatIntervalMs, joined.heartbeatTimeoutMs],
      [UP.natsUrl, UP.tlsCa, 1_000, 9_000],
    );
    assert.is(joined.suspectAfterMs, 2_000, 'the grace follows the interval it took');
    const flagged = resolveConfig(
      { dataDir: dataDir.path, natsUrl: 'nats://elsewhere:4222' },
      { CLOUDAI_HEARTBEAT_INTERVAL_MS: '300' },
    );
    assert.is(flagged.natsUrl, 'nats://elsewhere:4222');
    assert.is(flagged.heartbeatIntervalMs, 300);
    assert.is(flagged.heartbeatTimeoutMs, 9_000);
    const own = resolveConfig({ dataDir: dataDir.path }, {}, { joinRunningUp: false });
    assert.is(own.natsUrl, DEFAULT_CONFIG.natsUrl);
  } finally {
    dataDir.remove();
  }
});

test('a stale or broken file is ignored, and only its own up removes it', () => {
  const dataDir = makeTempDir('running-up-stale');
  try {
    writeRunningUp(dataDir.path, { pid: deadPid(), ...UP });
    assert.is(findRunningUp(dataDir.path), undefined);
    assert.is(resolveClientConfig({ dataDir: dataDir.path }, {}).natsUrl, DEFAULT_CONFIG.natsUrl);
    writeFileSync(runningUpPath(dataDir.path), '{"pid": ');
    assert.is(findRunningUp(dataDir.path), undefined);
    writeRunningUp(dataDir.path, { pid: process.pid, ...UP });
    removeRunningUp(dataDir.path, process.pid + 1);
    assert.equal(findRunningUp(dataDir.path), { pid: process.pid, ...UP });
    removeRunningUp(dataDir.path, process.pid);
    assert.is(findRunningUp(dataDir.path), undefined);
  } finally {
    dataDir.remove();
  }
});

test('the servers of `up --ha` are kept as one comma-separated list; a broken list is ignored', () => {
  const dataDir = makeTempDir('running-up-ha');
  try {
    const natsUrl = 'nats://127.0.0.1:4222,nats://127.0.0.1:4223,nats://127.0.0.1:4224';
    writeRunningUp(dataDir.path, { pid: process.pid, ...UP, natsUrl });
    assert.is(resolveClientConfig({ dataDir: dataDir.path }, {}).natsUrl, natsUrl);
    writeRunningUp(dataDir.path, { pid: process.pid, ...UP, natsUrl: 'nats://127.0.0.1:4222,,http://x' });
    assert.is(findRunningUp(dataDir.path), undefined);
  } finally {
    dataDir.remove();
  }
});

test.run();
