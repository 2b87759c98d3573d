import { type JsMsg, jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { isTerminal, type TaskDocument } from '../../projections/task-document.js';
import {
  TASK_LOGS_STREAM,
  taskLogsFilter,
  workerIdFromTaskLogSubject,
} from '../../streams/contracts/subjects.js';
import { LOG_HEADERS, OutputAssembler } from '../../streams/contracts/task-logs.js';
import { ConfigError, type ConfigOverrides, resolveConfig } from '../config.js';
import { connectAsCli } from '../credentials.js';
import { readSnapshot } from '../read-model-snapshot.js';

export interface TaskLogsOptions {
  follow?: boolean;
}

/** How often `--follow` looks at the task's status in the read model. */
const FOLLOW_POLL_MS = 200;
/** After the task ended: how long `--follow` waits for the last output of a worker that ran it… */
const FOLLOW_END_WAIT_MS = 15_000;
/** …or, when no attempt of it ever started, for output still on its way. */
const FOLLOW_DRAIN_MS = 500;

/**
 * `cloudai task logs ID [--follow]`: what the task printed, as its workers shipped it to stream
 * TASK_LOGS (the last part of it: see docs/runtimes.md for the bounds). Output goes to stdout
 * byte for byte; which attempt it comes from, and where output was not kept, to stderr.
 * `--follow` prints new output as it comes and ends when the task ends.
 */
export async function taskLogsCommand(
  taskId: string,
  options: TaskLogsOptions,
  overrides: ConfigOverrides,
): Promise<void> {
  const config = resolveConfig(overrides);
  const readTask = () => readSnapshot(config.dataDir, (view) => view.getTask(taskId));
  if (!(await readTask())) {
    throw new ConfigError(`no task ${taskId} in the read model: list the tasks with \`cloudai tasks\``);
  }
  const nc = await connectAsCli(config, 'cloudai-task-logs');
  try {
    const stored = await storedMessages(nc, taskId);
    if (stored === undefined) {
      throw new Error(
        `stream ${TASK_LOGS_STREAM} does not exist: the control plane creates it when it starts (cloudai serve)`,
      );
    }
    const writer = new LogWriter();
    if (!options.follow && stored === 0) {
      process.stderr.write(`task ${taskId} has no stored output\n`);
      return;
    }
    const consumer = await jetstream(nc).consumers.get(TASK_LOGS_STREAM, {
      filter_subjects: taskLogsFilter(taskId),
    });
    const messages = await consumer.consume();
    const ended = options.follow
      ? followUntilEnded(readTask, writer).then(() => messages.stop())
      : Promise.resolve();
    for await (const msg of messages) {
      writer.write(msg);
      if (!options.follow && msg.info.pending === 0) break;
    }
    await ended;
  } finally {
    await nc.close();
  }
}

/** How many log messages of the task TASK_LOGS holds; undefined when there is no such stream. */
async function storedMessages(nc: NatsConnection, taskId: string): Promise<number | undefined> {
  const jsm = await jetstreamManager(nc);
  try {
    const info = await jsm.streams.info(TASK_LOGS_STREAM, { subjects_filter: taskLogsFilter(taskId) });
    return Object.values(info.state.subjects ?? {}).reduce((sum, count) => sum + count, 0);
  } catch (error) {
    if (/not found/i.test((error as Error).message)) return undefined;
    throw error;
  }
}

/**
 * Resolves once the task has ended and its output is in: the end marker of its last attempt
 * has come (its worker shipped everything), or, when no worker can send one, a short drain.
 */
async function followUntilEnded(readTask: () => Promise<TaskDocument | undefined>, writer: LogWriter) {
  let endedAt: number | undefined;
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, FOLLOW_POLL_MS));
    const task = await readTask();
    if (!task || !isTerminal(task.status)) continue;
    endedAt ??= Date.now();
    const started = task.history.some(
      (entry) => entry.event === 'TaskStarted' && entry.attempt === task.attempt,
    );
    if (started && task.workerId !== null && writer.hasEnded(task.workerId, task.attempt)) return;
    if (Date.now() - endedAt >= (started ? FOLLOW_END_WAIT_MS : FOLLOW_DRAIN_MS)) return;
  }
}

/** Writes each attempt's output once and in order, saying which attempt it is and what was not kept. */
class LogWriter {
  private readonly assembler = new OutputAssembler();
  private readonly ended = new Set<string>();
  private current?: string;

  hasEnded(workerId: string, attempt: number): boolean {
    return this.ended.has(`${workerId}:${attempt}`);
  }

  write(msg: JsMsg): void {
    const workerId = workerIdFromTaskLogSubject(msg.subject) ?? '?';
    const attempt = Number(msg.headers?.get(LOG_HEADERS.attempt) ?? 0);
    const offset = Number(msg.headers?.get(LOG_HEADERS.offset) ?? 0);
    const key = `${workerId}:${attempt}`;
    if (msg.headers?.has(LOG_HEADERS.end)) {
      this.ended.add(key);
      return;
    }
    if (msg.data.byteLength === 0) return;
    if (key !== this.current) {
      process.stderr.write(`── attempt ${attempt} on ${workerId} ──\n`);
      this.current = key;
    }
    const { skipped, fresh } = this.assembler.accept(key, offset, msg.data);
    if (skipped > 0) process.stderr.write(`[… ${skipped} bytes of output not kept …]\n`);
    if (fresh.byteLength > 0) process.stdout.write(fresh);
  }
}
