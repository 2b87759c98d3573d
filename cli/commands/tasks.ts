import { bySubmission } from '../../projections/task-document.js';
import { TASK_STATUSES, type TaskStatus } from '../../streams/contracts/task-events.js';
import { ConfigError, type ConfigOverrides, resolveClientConfig } from '../config.js';
import { readSnapshot } from '../read-model-snapshot.js';
import { renderTasksTable } from '../tasks-table.js';
import { colors, shouldUseColor } from '../terminal.js';

export interface TasksCommandOptions {
  json?: boolean;
  status?: string;
}

/** `cloudai tasks`: the task table (or documents) from the read model. Reads only LMDB, never NATS. */
export async function tasksCommand(options: TasksCommandOptions, overrides: ConfigOverrides): Promise<void> {
  const status = parseTaskStatus(options.status);
  const config = resolveClientConfig(overrides);
  // Oldest first, as the queue serves them: the JSON in the table's order.
  const stored = await readSnapshot(config.dataDir, (view) => view.listTasks());
  const tasks = stored.filter((task) => status === undefined || task.status === status).sort(bySubmission);
  process.stdout.write(
    options.json
      ? `${JSON.stringify(tasks, null, 2)}\n`
      : `${renderTasksTable(tasks, Date.now(), colors(shouldUseColor()), status && { status, total: stored.length })}\n`,
  );
}

function parseTaskStatus(value: string | undefined): TaskStatus | undefined {
  if (value === undefined) return undefined;
  if ((TASK_STATUSES as readonly string[]).includes(value)) return value as TaskStatus;
  throw new ConfigError(
    `--status ${JSON.stringify(value)} is not a task status: use one of ${TASK_STATUSES.join(', ')}`,
  );
}
