import { evolveTask, type TaskDocument } from '../../projections/task-document.js';
import type { TaskEvent, TaskSpec } from '../../streams/contracts/task-events.js';

/** A task as submitted with every default: 1 cpu, 0.5 GB memory, 1 GB storage, no GPU, k 2. */
export const DEFAULT_SPEC: Omit<TaskSpec, 'submittedAt'> = {
  image: 'python:3.12',
  cpu: 1,
  memoryGb: 0.5,
  storageGb: 1,
  gpu: 0,
  type: 'cpu-light',
  k: 2,
};

/** A task document: submitted at `submittedAt`, then folded through `events`. */
export function taskFrom(
  taskId: string,
  submittedAt: number,
  spec: Partial<TaskSpec> = {},
  events: (taskId: string) => TaskEvent[] = () => [],
): TaskDocument {
  const submitted: TaskEvent = {
    type: 'TaskSubmitted',
    taskId,
    at: submittedAt,
    task: { ...DEFAULT_SPEC, ...spec, submittedAt },
  };
  const document = [submitted, ...events(taskId)].reduce<TaskDocument | undefined>(evolveTask, undefined);
  if (!document) throw new Error(`${taskId} did not fold into a document`);
  return document;
}
