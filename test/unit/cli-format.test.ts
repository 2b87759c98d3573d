import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ConfigError, resolveConfig } from '../../cli/config.js';
import { colors, formatDuration, renderTable, shouldUseColor } from '../../cli/terminal.js';
import { renderWorkersTable } from '../../cli/workers-table.js';
import type { WorkerDocument } from '../../projections/worker-document.js';
import { workerDocument } from '../support/workers.js';

const ESC = '\u001b';

const worker = (workerId: string, status: WorkerDocument['status']): WorkerDocument =>
  workerDocument(workerId, {
    status,
    usage: { cpu: 0.31, memory: 0.42, storage: 0.1, gpu: 0 },
    lastHeartbeatAt: 97_000,
    statusSince: 40_000,
    allocated: { cpu: 2, memoryGb: 4, storageGb: 1, gpu: 0 },
    taskIds: ['t-1', 't-2'],
  });

test('durations are short and readable', () => {
  assert.equal([850, 3_000, 192_000, 7_500_000, 100 * 3_600_000].map(formatDuration), [
    '850ms',
    '3s',
    '3m12s',
    '2h05m',
    '4d4h',
  ]);
});

test('the table has one aligned row per worker and a summary', () => {
  const output = renderWorkersTable(
    [worker('kim', 'inactive'), worker('tessa', 'active')],
    100_000,
    colors(false),
  );
  const lines = output.split('\n');
  assert.match(
    lines[0] ?? '',
    /^ID\s+STATUS\s+SCHEDULABLE\s+LAST SEEN\s+ADDRESS\s+RUNTIME\s+CPU\s+MEM\s+GPU\s+ALLOCATED\s+FREE\s+TASKS\s+SINCE$/,
  );
  assert.match(
    lines[1] ?? '',
    /^kim\s+○ inactive\s+no\s+3s ago\s+10\.0\.0\.7:50052\s+-\s+31% of 8\s+42% of 16G\s+-\s+2c 4G\s+6c 12G\s+2 \(t-1,t-2\)\s+1m00s$/,
  );
  assert.match(lines[2] ?? '', /^tessa\s+● active\s+yes\s+3s ago/);
  assert.is(lines[1]?.indexOf('3s ago'), lines[2]?.indexOf('3s ago'), 'columns are aligned');
  assert.is(lines.at(-1), '2 workers: 1 active, 0 suspect, 1 inactive; 1 schedulable');
  assert.not.ok(output.includes(ESC), 'no escape codes without colour');
});

test('a table of more rows than a call takes arguments still renders', () => {
  const rows = Array.from({ length: 300_000 }, (_, index) => [`w-${index}`, 'x']);
  const lines = renderTable(['ID', 'STATUS'], rows).split('\n');
  assert.is(lines.length, 300_001);
  assert.is(lines.at(-1), 'w-299999  x');
});

test('status is green, yellow or red (removed: dim) only when colour is on', () => {
  const output = renderWorkersTable(
    [
      worker('kim', 'inactive'),
      worker('tessa', 'active'),
      worker('ravi', 'suspect'),
      worker('old', 'removed'),
    ],
    100_000,
    colors(true),
  );
  assert.ok(output.includes(`${ESC}[31m○ inactive`));
  assert.ok(output.includes(`${ESC}[32m● active`));
  assert.ok(output.includes(`${ESC}[33m◐ suspect`));
  assert.ok(output.includes(`${ESC}[2m✕ removed`));
});

test('colour: only on a TTY, NO_COLOR wins, FORCE_COLOR forces', () => {
  const tty = { isTTY: true } as NodeJS.WriteStream;
  const pipe = { isTTY: false } as NodeJS.WriteStream;
  assert.is(shouldUseColor(tty, {}), true);
  assert.is(shouldUseColor(pipe, { CI: 'true' }), false);
  assert.is(shouldUseColor(tty, { NO_COLOR: '1' }), false);
  assert.is(shouldUseColor(pipe, { FORCE_COLOR: '1' }), true);
});

test('config: flags override env, env overrides defaults, bad values are explained', () => {
  assert.is(resolveConfig({}, {}).heartbeatTimeoutMs, 30_000);
  assert.is(
    resolveConfig({}, { CLOUDAI_HEARTBEAT_TIMEOUT_MS: '400', CLOUDAI_HEARTBEAT_INTERVAL_MS: '100' })
      .heartbeatTimeoutMs,
    400,
  );
  assert.is(
    resolveConfig(
      { heartbeatTimeoutMs: 900 },
      { CLOUDAI_HEARTBEAT_TIMEOUT_MS: '400', CLOUDAI_HEARTBEAT_INTERVAL_MS: '100' },
    ).heartbeatTimeoutMs,
    900,
  );
  assert.is(resolveConfig({}, { NATS_URL: 'nats://10.0.0.1:4222' }).natsUrl, 'nats://10.0.0.1:4222');
  assert.throws(
    () => resolveConfig({}, { CLOUDAI_HEARTBEAT_TIMEOUT_MS: 'soon' }),
    (error: Error) => {
      return (
        error instanceof ConfigError &&
        /CLOUDAI_HEARTBEAT_TIMEOUT_MS must be a positive whole number/.test(error.message)
      );
    },
  );
  assert.throws(
    () => resolveConfig({ heartbeatTimeoutMs: 1_000, heartbeatIntervalMs: 5_000 }, {}),
    /must be shorter/,
  );
});

test.run();
