import type { Capacity } from '../streams/contracts/heartbeat.js';
import type { TaskSpec } from '../streams/contracts/task-events.js';

/** Amounts of the four resources a worker offers and a task requests (cores, GB, GB, devices). */
export type Resources = Capacity;

export const RESOURCE_KINDS = ['cpu', 'memoryGb', 'storageGb', 'gpu'] as const;
export type ResourceKind = (typeof RESOURCE_KINDS)[number];

export const NO_RESOURCES: Resources = Object.freeze({ cpu: 0, memoryGb: 0, storageGb: 0, gpu: 0 });

// Sums of fractional requests (0.1 + 0.2) must not make an exact fit look one ulp too big.
const EPSILON = 1e-9;

export function requestsOf(task: TaskSpec): Resources {
  return { cpu: task.cpu, memoryGb: task.memoryGb, storageGb: task.storageGb, gpu: task.gpu };
}

export function addResources(a: Resources, b: Resources): Resources {
  return {
    cpu: a.cpu + b.cpu,
    memoryGb: a.memoryGb + b.memoryGb,
    storageGb: a.storageGb + b.storageGb,
    gpu: a.gpu + b.gpu,
  };
}

/** `a − b`, never below zero: a worker whose capacity shrank under its tasks has nothing free, not less. */
export function subtractResources(a: Resources, b: Resources): Resources {
  return {
    cpu: Math.max(0, a.cpu - b.cpu),
    memoryGb: Math.max(0, a.memoryGb - b.memoryGb),
    storageGb: Math.max(0, a.storageGb - b.storageGb),
    gpu: Math.max(0, a.gpu - b.gpu),
  };
}

export function sumResources(all: Iterable<Resources>): Resources {
  let total = NO_RESOURCES;
  for (const resources of all) total = addResources(total, resources);
  return total;
}

/** Whether every requested amount fits in `available`: no overcommit of any resource. */
export function fitsWithin(request: Resources, available: Resources): boolean {
  return RESOURCE_KINDS.every((kind) => request[kind] <= available[kind] + EPSILON);
}

/** The resource kinds `request` needs more of than `available` has. */
export function shortfalls(request: Resources, available: Resources): ResourceKind[] {
  return RESOURCE_KINDS.filter((kind) => request[kind] > available[kind] + EPSILON);
}

/** "2 cpu, 4 GB memory, 1 GPU": the non-zero amounts, for messages and tables. */
export function describeResources(
  resources: Resources,
  kinds: readonly ResourceKind[] = RESOURCE_KINDS,
): string {
  const parts = kinds
    .filter((kind) => resources[kind] > 0)
    .map((kind) => describeAmount(kind, resources[kind]));
  return parts.length > 0 ? parts.join(', ') : 'nothing';
}

export function describeAmount(kind: ResourceKind, amount: number): string {
  const value = Number.isInteger(amount) ? String(amount) : String(Math.round(amount * 100) / 100);
  switch (kind) {
    case 'cpu':
      return `${value} cpu`;
    case 'memoryGb':
      return `${value} GB memory`;
    case 'storageGb':
      return `${value} GB storage`;
    case 'gpu':
      return `${value} GPU`;
  }
}
