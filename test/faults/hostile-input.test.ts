import { setTimeout as sleep } from 'node:timers/promises';
import type { NatsConnection } from '@nats-io/transport-node';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DEFAULT_MAX_HEARTBEAT_BYTES } from '../../control-plane/heartbeat-intake.js';
import { encodeHeartbeat, type HeartbeatInput } from '../../streams/contracts/heartbeat.js';
import type { Logger } from '../../streams/util/logger.js';
import { TestCluster } from '../support/cluster.js';
import { waitFor } from '../support/nats.js';
import { seededRandom } from '../support/random.js';
import { readWorkerEvents } from '../support/stream.js';

const TIMEOUT_MS = 500;
const INTERVAL_MS = 100;
const MAX_HEARTBEAT_BYTES = DEFAULT_MAX_HEARTBEAT_BYTES;
const REAL_WORKERS = ['real-a', 'real-b', 'real-c'];

type BadMessage = { subject: string; payload: Uint8Array };

/** Generators of messages that must each be rejected, never accepted. */
function badMessageGenerators(random: () => number): Array<() => BadMessage> {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
  const id = () => `fuzz${Math.floor(random() * 1_000)}`;
  const text = (value: string) => new TextEncoder().encode(value);
  const valid = (workerId: string): HeartbeatInput => ({
    workerId,
    sentAt: Date.now(),
    seq: 1,
    address: '10.0.0.1:1',
    capacity: { cpu: 4, memoryGb: 8, storageGb: 10, gpu: 0 },
  });
  return [
    // Random bytes.
    () => {
      const bytes = new Uint8Array(1 + Math.floor(random() * 2_000));
      for (let index = 0; index < bytes.length; index++) bytes[index] = Math.floor(random() * 256);
      bytes[0] = 0xff; // never a valid JSON start, whatever follows
      return { subject: `heartbeat.${id()}`, payload: bytes };
    },
    // Truncated JSON.
    () => {
      const workerId = id();
      const full = JSON.stringify(valid(workerId));
      return {
        subject: `heartbeat.${workerId}`,
        payload: text(full.slice(0, Math.floor(random() * (full.length - 1)))),
      };
    },
    // Deep nesting.
    () => {
      const workerId = id();
      const depth = 1_000 + Math.floor(random() * 50_000);
      return {
        subject: `heartbeat.${workerId}`,
        payload: text(
          `{"workerId":"${workerId}","sentAt":1,"seq":1,"capacity":${'['.repeat(depth)}${']'.repeat(depth)}}`,
        ),
      };
    },
    // Huge, negative, NaN-ish and wrongly typed numbers.
    () => {
      const workerId = id();
      const field = pick(['cpu', 'memoryGb', 'storageGb', 'gpu'] as const);
      const value = pick([1e308, -1, -0.5, 1e21, '8', null, true, 'NaN', [], {}]);
      return {
        subject: `heartbeat.${workerId}`,
        payload: text(
          JSON.stringify({ ...valid(workerId), capacity: { ...valid(workerId).capacity, [field]: value } }),
        ),
      };
    },
    () => {
      const workerId = id();
      return {
        subject: `heartbeat.${workerId}`,
        payload: text(`{"workerId":"${workerId}","sentAt":NaN,"seq":-Infinity}`),
      };
    },
    () => {
      const workerId = id();
      const field = pick(['sentAt', 'seq'] as const);
      return {
        subject: `heartbeat.${workerId}`,
        payload: text(
          JSON.stringify({
            ...valid(workerId),
            [field]: pick([-1, Number.POSITIVE_INFINITY, '42', null, 2 ** 60]),
          }),
        ),
      };
    },
    // Unicode and overlong ids.
    () => {
      const workerId = pick([
        'tëssa',
        'wörker',
        '工作者',
        'emoji😀',
        'a'.repeat(65 + Math.floor(random() * 200)),
      ]);
      return { subject: `heartbeat.${workerId}`, payload: encodeHeartbeat(valid(workerId)) };
    },
    // Spoofing another worker, including a real one.
    () => ({ subject: `heartbeat.${id()}`, payload: encodeHeartbeat(valid(pick(REAL_WORKERS))) }),
    // Payloads at the size limit: exactly at it (judged by content: garbage) and one byte over.
    () => {
      const workerId = id();
      const atLimit = random() < 0.5;
      const payload = new Uint8Array(MAX_HEARTBEAT_BYTES + (atLimit ? 0 : 1)).fill(0x20);
      payload.set(text(`{"workerId":"${workerId}","x":`), 0);
      return { subject: `heartbeat.${workerId}`, payload };
    },
  ];
}

function capturingLogger(lines: string[]): Logger {
  return {
    info: (line) => lines.push(line),
    warn: (line) => lines.push(line),
    error: (line) => lines.push(line),
  };
}

async function publishAll(nc: NatsConnection, messages: Iterable<BadMessage>): Promise<number> {
  let sent = 0;
  for (const message of messages) {
    nc.publish(message.subject, message.payload);
    // Yield regularly: a tight publish loop would buffer everything and starve the real workers.
    if (++sent % 200 === 0) {
      await nc.flush();
      await sleep(5);
    }
  }
  await nc.flush();
  return sent;
}

test('fuzz: thousands of broken heartbeats while real workers beat: all rejected and counted, no false inactive', async () => {
  const cluster = await TestCluster.start({
    heartbeatTimeoutMs: TIMEOUT_MS,
    heartbeatIntervalMs: INTERVAL_MS,
    // The fuzz loads both cores on purpose. A worker counts as wronged if it leaves `active` at
    // all, so suspicion gets as long as the timeout: a false suspect needs as long a stall as a
    // false inactive (half the timeout, the test clusters' default, was within a loaded machine's pauses).
    liveness: { suspectAfterMs: TIMEOUT_MS - 1 },
  });
  const logLines: string[] = [];
  const controlPlane = await cluster.startControlPlane({}, capturingLogger(logLines));
  try {
    const workerConnection = await cluster.connect('real-workers');
    const realWorkers = REAL_WORKERS.map((workerId) => cluster.worker(workerConnection, workerId));
    for (const worker of realWorkers) worker.start();
    await waitFor(
      () => REAL_WORKERS.every((workerId) => controlPlane.fleet.statusOf(workerId) === 'active'),
      5_000,
      'real workers',
    );

    let falseInactive = 0;
    const wronged = new Set<string>();
    const watcher = setInterval(() => {
      for (const workerId of REAL_WORKERS) {
        const status = controlPlane.fleet.statusOf(workerId);
        if (status === 'active') continue;
        falseInactive++;
        wronged.add(`${workerId} ${status ?? 'not judged here'}`);
      }
    }, 20);

    const random = seededRandom(20261127);
    const generators = badMessageGenerators(random);
    const attacker = await cluster.connect('attacker');
    const bad = function* () {
      for (let index = 0; index < 6_000; index++)
        yield (generators[index % generators.length] as () => BadMessage)();
    };
    const sent = await publishAll(attacker, bad());
    await waitFor(
      () => controlPlane.intake.totalRejected >= sent || controlPlane.fleet.size > REAL_WORKERS.length,
      20_000,
      'every bad message to be counted',
    );
    clearInterval(watcher);

    assert.is(controlPlane.intake.totalRejected, sent, 'each bad message rejected exactly once');
    assert.is(controlPlane.intake.rejected['fleet-full'], 0);
    assert.is(falseInactive, 0, `real workers stayed active throughout (seen: ${[...wronged].join(', ')})`);
    assert.is(controlPlane.fleet.size, REAL_WORKERS.length, 'no fuzz id became a worker');
    const events = await readWorkerEvents(workerConnection);
    assert.equal(
      events.map((stored) => stored.event.type),
      REAL_WORKERS.map(() => 'WorkerRegistered'),
    );
    // Logged, but at a bounded rate: far fewer lines than messages.
    const rejectionLines = logLines.filter((line) => line.startsWith('rejected heartbeat'));
    assert.ok(rejectionLines.length > 0 && rejectionLines.length <= 10, `${rejectionLines.length} log lines`);
    for (const worker of realWorkers) worker.stop();
  } finally {
    await controlPlane.close();
    await cluster.close();
  }
});

test('a flood from 100 000 never-seen ids is bounded by maxWorkers, counted and logged', async () => {
  const cluster = await TestCluster.start({ heartbeatTimeoutMs: 30_000, heartbeatIntervalMs: 5_000 });
  const logLines: string[] = [];
  const maxWorkers = 1_000;
  const controlPlane = await cluster.startControlPlane({ maxWorkers }, capturingLogger(logLines));
  try {
    const flooder = await cluster.connect('flooder');
    const flood = function* () {
      for (let index = 0; index < 100_000; index++) {
        const workerId = `flood-${index}`;
        yield {
          subject: `heartbeat.${workerId}`,
          payload: encodeHeartbeat({ workerId, sentAt: 0, seq: 1, capacity: { cpu: 1, memoryGb: 1 } }),
        };
      }
    };
    const heapBefore = process.memoryUsage().heapUsed;
    await publishAll(flooder, flood());
    await waitFor(
      () => controlPlane.intake.accepted.count + controlPlane.intake.rejected['fleet-full'] >= 100_000,
      60_000,
      'the flood to be handled',
    );
    assert.is(controlPlane.fleet.size, maxWorkers);
    assert.is(controlPlane.intake.rejected['fleet-full'], 100_000 - maxWorkers);
    const heapGrowthMb = (process.memoryUsage().heapUsed - heapBefore) / 1_048_576;
    assert.ok(heapGrowthMb < 200, `heap grew by ${heapGrowthMb.toFixed(0)} MB`);
    assert.ok(
      logLines.some((line) => /refused heartbeat of flood-\d+: fleet-full: .*CLOUDAI_MAX_WORKERS/.test(line)),
      'a clear log line names the bound',
    );
  } finally {
    await controlPlane.close();
    await cluster.close();
  }
});

test.run();
