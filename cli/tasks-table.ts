import { describeResources, requestsOf } from '../projections/resources.js';
import { bySubmission, type TaskDocument } from '../projections/task-document.js';
import { TASK_STATUSES, type TaskStatus } from '../streams/contracts/task-events.js';
import { type Colors, countOf, formatDuration, renderTable } from './terminal.js';

const HEADER = [
  'ID',
  'STATUS',
  'WORKER',
  'ATTEMPT',
  'TYPE',
  'REQUESTS',
  'IMAGE',
  'SUBMITTED',
  'SINCE',
] as const;
const STATUS_COLUMN = HEADER.indexOf('STATUS');

/** What `--status` left out: the filter, and how many tasks there are in all. */
export interface TasksFilterContext {
  status: TaskStatus;
  total: number;
}

/** The `cloudai tasks` table: oldest first, as the queue serves them. */
export function renderTasksTable(
  tasks: readonly TaskDocument[],
  now: number,
  color: Colors,
  filtered?: TasksFilterContext,
): string {
  if (tasks.length === 0) {
    if (filtered && filtered.total > 0) {
      return `no task is ${filtered.status} (${countOf(filtered.total, 'task')} in all: \`cloudai tasks\` lists them)`;
    }
    return 'no tasks yet: submit one with `cloudai task submit --cpu N`';
  }
  const sorted = [...tasks].sort(bySubmission);
  const rows = sorted.map((task) => [
    task.taskId,
    task.status,
    task.workerId ?? '-',
    String(task.attempt),
    task.type,
    describeResources(requestsOf(task)),
    task.image ?? '-',
    `${formatDuration(now - task.submittedAt)} ago`,
    formatDuration(now - task.statusSince),
  ]);
  const paint = statusPainter(color);
  const table = renderTable(HEADER, rows, (row, column, padded) => {
    const status = sorted[row]?.status;
    return column === STATUS_COLUMN && status ? paint(status, padded) : padded;
  });
  return `${table}\n\n${summarize(tasks)}`;
}

/** "5 tasks: 1 queued, 2 running, 2 completed": only the statuses that occur. */
function summarize(tasks: readonly TaskDocument[]): string {
  const counts = new Map<TaskStatus, number>();
  for (const task of tasks) counts.set(task.status, (counts.get(task.status) ?? 0) + 1);
  const parts = TASK_STATUSES.filter((status) => counts.has(status)).map(
    (status) => `${counts.get(status)} ${status}`,
  );
  return `${countOf(tasks.length, 'task')}: ${parts.join(', ')}`;
}

/** `cloudai task show`: the task, each attempt and every event applied to it. */
export function renderTaskDetails(task: TaskDocument, now: number, color: Colors): string {
  const paint = statusPainter(color);
  const where = task.workerId && task.status !== 'queued' ? ` on ${task.workerId}` : '';
  const lines = [
    `task ${task.taskId}  ${paint(task.status, task.status)}${where} (attempt ${task.attempt}) for ${formatDuration(now - task.statusSince)}`,
    '',
    ...renderTable(
      ['', ''],
      [
        [
          'image',
          task.image === undefined ? '-' : `${task.image} (a container worker runs the command in it)`,
        ],
        [
          'command',
          task.command === undefined
            ? '- (the worker simulates the work)'
            : `sh -c ${JSON.stringify(task.command)}`,
        ],
        ['requests', describeResources(requestsOf(task))],
        ['type', `${task.type}, SLA multiplier k ${task.k}`],
        [
          'submitted',
          `${formatDuration(now - task.submittedAt)} ago (${new Date(task.submittedAt).toISOString()})`,
        ],
        ...(task.exitCode !== null ? [['exit code', String(task.exitCode)]] : []),
        ...(task.failure ? [['failure', task.failure]] : []),
      ],
    )
      .split('\n')
      .slice(1),
    '',
    'attempts',
    ...attemptsOf(task).map(
      (attempt) => `  #${attempt.attempt}  ${attempt.workerId.padEnd(12)} ${attempt.outcome}`,
    ),
    '',
    'history',
    ...renderTable(
      ['WHEN', 'EVENT', 'ATTEMPT', 'DETAIL'],
      task.history.map((entry) => [
        `${formatDuration(now - entry.at)} ago`,
        entry.event,
        String(entry.attempt),
        [
          entry.workerId ? `worker ${entry.workerId}` : '',
          entry.basedOnWorkerSeq !== undefined ? `based on WORKER_EVENTS seq ${entry.basedOnWorkerSeq}` : '',
          entry.reason ?? '',
        ]
          .filter(Boolean)
          .join('; '),
      ]),
    )
      .split('\n')
      .map((line) => `  ${line}`),
  ];
  return lines.join('\n');
}

interface AttemptSummary {
  attempt: number;
  workerId: string;
  outcome: string;
}

/** One line per attempt that was placed: its worker and how it ended (or where it stands). */
export function attemptsOf(task: TaskDocument): AttemptSummary[] {
  const attempts = new Map<number, AttemptSummary>();
  for (const entry of task.history) {
    if (entry.event === 'TaskAssigned' && entry.workerId) {
      attempts.set(entry.attempt, { attempt: entry.attempt, workerId: entry.workerId, outcome: 'assigned' });
      continue;
    }
    const attempt = attempts.get(entry.attempt);
    if (!attempt) continue;
    const outcome = OUTCOME_OF[entry.event];
    if (outcome)
      attempt.outcome =
        entry.reason && entry.event !== 'TaskStarted' ? `${outcome}: ${entry.reason}` : outcome;
  }
  if (attempts.size === 0)
    return [{ attempt: task.attempt, workerId: '-', outcome: `${task.status}, never placed` }];
  return [...attempts.values()];
}

const OUTCOME_OF: Partial<Record<TaskDocument['history'][number]['event'], string>> = {
  TaskStarted: 'running',
  TaskCompleted: 'completed',
  TaskFailed: 'failed',
  TaskRequeued: 'requeued',
  TaskCancelled: 'cancelled',
};

function statusPainter(color: Colors): (status: TaskStatus, text: string) => string {
  const paints: Record<TaskStatus, (text: string) => string> = {
    queued: color.yellow,
    assigned: color.cyan,
    running: color.green,
    completed: color.dim,
    failed: color.red,
    cancelled: color.dim,
  };
  return (status, text) => paints[status](text);
}
