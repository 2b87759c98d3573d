import type { z } from 'zod';
import { readModelPath } from '../../projections/read-model.js';
import { newTaskId, type TaskRequestField, validateTaskRequest } from '../../scheduler/task-model.js';
import { TASK_CANCEL_SUBJECT, TASK_SUBMIT_SUBJECT } from '../../streams/contracts/subjects.js';
import {
  cancelReplySchema,
  submitReplySchema,
  type TaskRequest,
} from '../../streams/contracts/task-events.js';
import { UserFacingError } from '../../streams/util/user-error.js';
import { type Config, ConfigError, type ConfigOverrides, resolveClientConfig } from '../config.js';
import { askControlPlane } from '../control-plane-request.js';
import { readSnapshot } from '../read-model-snapshot.js';
import { renderTaskDetails } from '../tasks-table.js';
import { colors, shouldUseColor } from '../terminal.js';

export interface TaskSubmitOptions {
  image?: string;
  command?: string;
  cpu?: string;
  memory?: string;
  storage?: string;
  gpu?: string;
  type?: string;
  k?: string;
}

const FLAG_OF: Record<TaskRequestField, string> = {
  image: '--image',
  command: '--command',
  cpu: '--cpu',
  memoryGb: '--memory',
  storageGb: '--storage',
  gpu: '--gpu',
  type: '--type',
  k: '--k',
};

/**
 * `cloudai task submit`: checks the request here (a bad one changes nothing, even without a
 * server), then hands it to the scheduler and prints where it went or why it waits.
 */
export async function taskSubmitCommand(
  options: TaskSubmitOptions,
  overrides: ConfigOverrides,
): Promise<void> {
  const config = resolveClientConfig(overrides);
  const request: TaskRequest = {
    image: options.image,
    command: options.command,
    cpu: toNumber(options.cpu),
    memoryGb: toNumber(options.memory),
    storageGb: toNumber(options.storage),
    gpu: toNumber(options.gpu),
    type: options.type,
    k: toNumber(options.k),
  };
  const typed: Partial<Record<TaskRequestField, string>> = {
    cpu: options.cpu,
    memoryGb: options.memory,
    storageGb: options.storage,
    gpu: options.gpu,
    k: options.k,
  };
  const validation = validateTaskRequest(
    request,
    Date.now(),
    (field) => FLAG_OF[field],
    (field) => typed[field],
  );
  if (!validation.ok) {
    throw new ConfigError(
      `${validation.problems.map((problem) => problem.message).join('; ')}. Nothing was submitted`,
    );
  }
  const taskId = newTaskId();
  const reply = await askScheduler(
    config,
    TASK_SUBMIT_SUBJECT,
    { taskId, task: request },
    submitReplySchema,
    {
      nothingDone: 'nothing was submitted',
      maybeDone: `task ${taskId} may have been submitted: check with \`cloudai task show ${taskId}\``,
    },
  );
  if (!reply.ok) throw new UserFacingError(`the scheduler refused the task: ${reply.error}`);
  const { outcome } = reply;
  process.stdout.write(
    outcome.kind === 'assigned'
      ? `task ${reply.taskId} assigned to ${outcome.workerId}\n`
      : `task ${reply.taskId} queued: ${outcome.reason}\n`,
  );
}

/** `cloudai task cancel ID`. */
export async function taskCancelCommand(taskId: string, overrides: ConfigOverrides): Promise<void> {
  const config = resolveClientConfig(overrides);
  const reply = await askScheduler(config, TASK_CANCEL_SUBJECT, { taskId }, cancelReplySchema, {
    nothingDone: 'nothing was cancelled',
    maybeDone: `task ${taskId} may have been cancelled: check with \`cloudai task show ${taskId}\``,
  });
  if (!reply.ok) throw new UserFacingError(reply.error);
  process.stdout.write(`task ${taskId} cancelled (it was ${reply.previousStatus})\n`);
}

/** `cloudai task show ID`: reads the read model only. */
export async function taskShowCommand(
  taskId: string,
  options: { json?: boolean },
  overrides: ConfigOverrides,
): Promise<void> {
  const config = resolveClientConfig(overrides);
  const task = await readSnapshot(config.dataDir, (view) => view.getTask(taskId));
  if (!task) {
    throw new ConfigError(
      `no task ${taskId} in ${readModelPath(config.dataDir)}: list the tasks with \`cloudai tasks\``,
    );
  }
  process.stdout.write(
    options.json
      ? `${JSON.stringify(task, null, 2)}\n`
      : `${renderTaskDetails(task, Date.now(), colors(shouldUseColor()))}\n`,
  );
}

/** A request to the scheduler. */
function askScheduler<Schema extends z.ZodType>(
  config: Config,
  subject: string,
  body: unknown,
  schema: Schema,
  advice: { nothingDone: string; maybeDone: string },
): Promise<z.infer<Schema>> {
  return askControlPlane(config, {
    subject,
    body,
    schema,
    service: 'scheduler',
    clientName: 'cloudai-task',
    advice,
  });
}

/** A flag's number; an empty or non-numeric value becomes NaN, which validation explains. */
function toNumber(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  return value.trim() === '' ? Number.NaN : Number(value);
}
