import type { TaskDocument } from './task-document.js';

export interface AttemptSummary {
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
