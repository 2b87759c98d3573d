import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { TASK_LOGS_STREAM, taskLogSubject, taskLogsFilter } from '../../streams/contracts/subjects.js';
import { LOG_HEADERS, OutputAssembler, TASK_LOG_BOUNDS } from '../../streams/contracts/task-logs.js';
import { connectToNats } from '../../streams/nats/connection.js';
import { readCredentialsFile } from '../../streams/nats/credentials.js';
import type { NatsServer } from '../../streams/nats/nats-server.js';
import { ensureTaskLogsStream } from '../../streams/nats/task-log-stream.js';
import { TaskLogShipper } from '../../worker/task-log-shipper.js';
import {
  collectServerErrors,
  makeTempDir,
  startAuthorizedServer,
  startTestNatsServer,
  waitFor,
} from '../support/nats.js';

interface Context {
  store: ReturnType<typeof makeTempDir>;
  server: NatsServer;
  nc: NatsConnection;
}

const logs = suite<Context>('task output through TASK_LOGS: bounded per task and in total');
const TOTAL_BYTES = 8 * 1024 * 1024;

logs.before(async (context) => {
  context.store = makeTempDir('logs');
  context.server = await startTestNatsServer(context.store.path);
  context.nc = await connectToNats({ url: context.server.url, name: 'test-logs' });
  await ensureTaskLogsStream(await jetstreamManager(context.nc), TOTAL_BYTES);
});

logs.after(async (context) => {
  await context.nc?.close();
  await context.server?.stop();
  context.store?.remove();
});

/** Everything stored for a task, put back together: stdout as a reader sees it, and what was skipped. */
async function read(nc: NatsConnection, taskId: string) {
  const jsm = await jetstreamManager(nc);
  const info = await jsm.streams.info(TASK_LOGS_STREAM, { subjects_filter: taskLogsFilter(taskId) });
  const count = Object.values(info.state.subjects ?? {}).reduce((sum, n) => sum + n, 0);
  const consumer = await jetstream(nc).consumers.get(TASK_LOGS_STREAM, {
    filter_subjects: taskLogsFilter(taskId),
  });
  const assembler = new OutputAssembler();
  const parts: Uint8Array[] = [];
  let skipped = 0;
  let storedBytes = 0;
  let ended: string | undefined;
  if (count > 0) {
    const messages = await consumer.consume();
    for await (const msg of messages) {
      storedBytes += msg.data.byteLength;
      const end = msg.headers?.get(LOG_HEADERS.end);
      if (end) ended = end;
      const output = assembler.accept(msg.subject, Number(msg.headers?.get(LOG_HEADERS.offset)), msg.data);
      skipped += output.skipped;
      parts.push(output.fresh);
      if (msg.info.pending === 0) break;
    }
  }
  return { text: Buffer.concat(parts).toString('utf8'), skipped, storedBytes, messages: count, ended };
}

/** Ends the attempt's output and reads it back once its end marker is stored. */
async function finishAndRead(nc: NatsConnection, shipper: TaskLogShipper, taskId: string) {
  shipper.finish('completed');
  await nc.flush();
  await waitFor(async () => (await read(nc, taskId)).ended === 'completed', 5_000, 'the end marker');
  return read(nc, taskId);
}

logs('a short output arrives whole, in order, with its end', async (context) => {
  const shipper = new TaskLogShipper({ nc: context.nc, workerId: 'kim', taskId: 't-short', attempt: 1 });
  shipper.append(Buffer.from('hello\n'));
  shipper.append(Buffer.from('world\n'));
  const stored = await finishAndRead(context.nc, shipper, 't-short');
  assert.is(stored.text, 'hello\nworld\n');
  assert.is(stored.skipped, 0);
});

logs(
  'a task that prints far more than the tail keeps its last MiB, never more than the bound',
  async (context) => {
    const shipper = new TaskLogShipper({
      nc: context.nc,
      workerId: 'kim',
      taskId: 't-loud',
      attempt: 1,
      flushEveryMs: 5,
      bytesPerFlush: 256 * 1024,
    });
    const line = (n: number) => `line ${String(n).padStart(8, '0')} ${'x'.repeat(50)}\n`;
    let n = 0;
    // 12 MiB, printed faster than it ships: older output is dropped, never queued.
    for (let round = 0; round < 60; round++) {
      const lines: string[] = [];
      for (let i = 0; i < 3_300; i++) lines.push(line(n++));
      shipper.append(Buffer.from(lines.join('')));
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    const stored = await finishAndRead(context.nc, shipper, 't-loud');
    const { tailBytes, rollupEveryBytes } = TASK_LOG_BOUNDS;
    assert.ok(stored.storedBytes <= tailBytes + rollupEveryBytes, `${stored.storedBytes} bytes stored`);
    assert.ok(stored.text.length >= tailBytes - line(0).length, `${stored.text.length} bytes readable`);
    assert.ok(stored.text.endsWith(line(n - 1)), 'the last line is kept');
    assert.ok(stored.skipped > 0, 'the reader is told what was not kept');
    // What is readable is whole consecutive lines after the first cut.
    const readable = stored.text.split('\n').slice(1, -1);
    const numbers = readable.map((entry) => Number(entry.split(' ')[1]));
    assert.ok(
      numbers.every((value, index) => index === 0 || value === (numbers[index - 1] as number) + 1),
      'consecutive',
    );
  },
);

logs('in total the stream stays within its bound: the oldest output goes first', async (context) => {
  const chunk = Buffer.alloc(300 * 1024, 'y');
  for (let task = 0; task < 40; task++) {
    const shipper = new TaskLogShipper({
      nc: context.nc,
      workerId: 'kim',
      taskId: `t-many-${task}`,
      attempt: 1,
    });
    shipper.append(chunk);
    shipper.finish('completed');
    await context.nc.flush();
  }
  const info = await (await jetstreamManager(context.nc)).streams.info(TASK_LOGS_STREAM);
  assert.ok(info.state.bytes <= TOTAL_BYTES, `${info.state.bytes} bytes in total`);
  assert.is((await read(context.nc, 't-many-0')).messages, 0, 'the oldest task output is gone');
  assert.is((await read(context.nc, 't-many-39')).text.length, chunk.byteLength);
});

logs('a worker may ship output only on its own log subjects', async () => {
  const { dataDir, server, files } = await startAuthorizedServer('logs-auth', ['tessa', 'kim']);
  const tessa = await connectToNats({
    url: server.url,
    name: 'tessa',
    credentials: readCredentialsFile(files.tessa),
  });
  try {
    const errors = collectServerErrors(tessa);
    tessa.publish(taskLogSubject('tessa', 't-1'), 'mine');
    tessa.publish(taskLogSubject('kim', 't-1'), 'spoofed');
    await tessa.flush();
    await waitFor(() => errors.length > 0, 5_000, 'a permission error');
    assert.equal(errors, ['Permissions Violation for Publish to "tasks.logs.kim.t-1"']);
  } finally {
    await tessa.close();
    await server.stop();
    dataDir.remove();
  }
});

logs.run();
