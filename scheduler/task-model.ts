import { randomBytes } from 'node:crypto';
import type { Resources } from '../projections/resources.js';
import { RESOURCE_LIMITS } from '../streams/contracts/heartbeat.js';
import {
  MAX_COMMAND_LENGTH,
  MAX_IMAGE_LENGTH,
  SLA_MULTIPLIER_RANGE,
  TASK_TYPES,
  type TaskRequest,
  type TaskSpec,
  type TaskType,
} from '../streams/contracts/task-events.js';

/** The original CloudAI's defaults for what a submission leaves out. */
export const TASK_DEFAULTS = { cpu: 1, memoryGb: 0.5, storageGb: 1, gpu: 0, k: 2.0 } as const;

/**
 * The type the original inferred from the requests when none was given: GPUs with many cores
 * train, GPUs alone infer, then memory-heavy, cpu-heavy, cpu-light, and `mixed` for the rest.
 */
export function inferTaskType(requests: Resources): TaskType {
  if (requests.gpu > 2 && requests.cpu > 4) return 'gpu-training';
  if (requests.gpu > 0) return 'gpu-inference';
  if (requests.memoryGb > 8) return 'memory-heavy';
  if (requests.cpu > 4) return 'cpu-heavy';
  if (requests.cpu > 0) return 'cpu-light';
  return 'mixed';
}

function isTaskType(value: string): value is TaskType {
  return (TASK_TYPES as readonly string[]).includes(value);
}

export type TaskRequestField = keyof TaskRequest;

export interface TaskRequestProblem {
  field: TaskRequestField;
  message: string;
}

export type TaskValidation = { ok: true; task: TaskSpec } | { ok: false; problems: TaskRequestProblem[] };

/**
 * Turns a submission into a task: applies the defaults, infers the type when absent, and
 * explains every value out of range. `label` names a field the way the caller's user typed it
 * (the CLI says `--memory`, the wire says `memoryGb`).
 */
export function validateTaskRequest(
  request: TaskRequest,
  submittedAt: number,
  label: (field: TaskRequestField) => string = (field) => field,
  typed: (field: TaskRequestField) => string | undefined = () => undefined,
): TaskValidation {
  const problems: TaskRequestProblem[] = [];
  const problem = (field: TaskRequestField, message: string) =>
    problems.push({ field, message: `${label(field)} ${message}` });
  // What was typed, quoted, for a value that is no number: "abc" says more than NaN.
  const show = (field: TaskRequestField, value: number) => {
    const text = typed(field);
    return Number.isNaN(value) && text !== undefined ? JSON.stringify(text) : showNumber(value);
  };

  const image = request.image?.trim();
  if (image === '') problem('image', 'is empty: name a container image, e.g. python:3.12, or leave it out');
  else if (image !== undefined && image.length > MAX_IMAGE_LENGTH) {
    problem('image', `is longer than ${MAX_IMAGE_LENGTH} characters`);
  }
  if (request.command !== undefined) {
    if (request.command.trim() === '') problem('command', 'is empty: give a shell command, or leave it out');
    else if (request.command.length > MAX_COMMAND_LENGTH) {
      problem('command', `is longer than ${MAX_COMMAND_LENGTH} characters`);
    }
  }

  const amount = (field: 'cpu' | 'memoryGb' | 'storageGb' | 'gpu', unit: string): number => {
    const value = request[field] ?? TASK_DEFAULTS[field];
    if (!Number.isFinite(value) || value < 0) {
      problem(field, `must be a number of ${unit} ≥ 0, got ${show(field, value)}`);
    } else if (value > RESOURCE_LIMITS[field]) {
      problem(field, `must be at most ${RESOURCE_LIMITS[field]} ${unit}, got ${show(field, value)}`);
    } else if (field === 'gpu' && !Number.isInteger(value)) {
      problem(field, `must be a whole number of GPUs, got ${show(field, value)}`);
    }
    return value;
  };
  const requests: Resources = {
    cpu: amount('cpu', 'cores'),
    memoryGb: amount('memoryGb', 'GB'),
    storageGb: amount('storageGb', 'GB'),
    gpu: amount('gpu', 'GPUs'),
  };

  let type: TaskType | undefined;
  if (request.type === undefined || request.type === '') type = inferTaskType(requests);
  else if (isTaskType(request.type)) type = request.type;
  else {
    problem(
      'type',
      `${JSON.stringify(request.type)} is not a task type: use one of ${TASK_TYPES.join(', ')}, ` +
        'or leave it out to infer it from the requests',
    );
  }

  const k = request.k ?? TASK_DEFAULTS.k;
  if (!Number.isFinite(k) || k < SLA_MULTIPLIER_RANGE.min || k > SLA_MULTIPLIER_RANGE.max) {
    problem(
      'k',
      `(the SLA multiplier) must be between ${SLA_MULTIPLIER_RANGE.min} and ${SLA_MULTIPLIER_RANGE.max}, got ${show('k', k)}`,
    );
  }

  if (problems.length > 0 || type === undefined) return { ok: false, problems };
  const task: TaskSpec = { ...requests, type, k, submittedAt };
  if (image !== undefined) task.image = image;
  if (request.command !== undefined) task.command = request.command;
  return { ok: true, task };
}

/** `t-` and ten random base-36 characters: unique enough for a cluster's lifetime, short enough to type. */
export function newTaskId(): string {
  const alphabet = '0123456789abcdefghijklmnopqrstuvwxyz';
  return `t-${[...randomBytes(10)].map((byte) => alphabet[byte % alphabet.length]).join('')}`;
}

function showNumber(value: number): string {
  return Number.isNaN(value) ? 'not a number' : String(value);
}
