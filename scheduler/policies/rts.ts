import type { TaskSpec } from '../../streams/contracts/task-events.js';
import {
  type Candidates,
  type CandidateWorker,
  candidatesOf,
  type PlacementPolicy,
  perWorker,
} from './policy.js';
import type { RtsParams } from './rts-params.js';

/** How RTS sees one candidate for one task. */
export interface RtsScore {
  workerId: string;
  /** Predicted runtime E, seconds. */
  runtimeS: number;
  /** Predicted overrun of the deadline, seconds (0 when on time). */
  overrunS: number;
  load: number;
  risk: number;
}

/**
 * A worker's load in [0, 1]: the share of its capacity held by tasks, weighted as the
 * original weighted usage (cores, memory / 10, GPUs × 2). It comes from the allocation the
 * scheduler itself records, so every decision can be recomputed from the two streams.
 */
function workerLoad(
  capacityCpu: number,
  capacityMemoryGb: number,
  capacityGpu: number,
  allocatedCpu: number,
  allocatedMemoryGb: number,
  allocatedGpu: number,
): number {
  const cpuWeight = capacityCpu;
  const memoryWeight = capacityMemoryGb / 10;
  const gpuWeight = capacityGpu * 2;
  const total = cpuWeight + memoryWeight + gpuWeight;
  if (total === 0) return 0;
  return (
    (cpuWeight * share(allocatedCpu, capacityCpu) +
      memoryWeight * share(allocatedMemoryGb, capacityMemoryGb) +
      gpuWeight * share(allocatedGpu, capacityGpu)) /
    total
  );
}

function share(used: number, of: number): number {
  return of > 0 ? used / of : 0;
}

/** requested / free, 0 when nothing is requested (and 1, the original's value, when nothing is free). */
function pressure(requested: number, free: number): number {
  if (requested === 0) return 0;
  return free > 0 ? requested / free : 1;
}

/** Everything in the formula that depends only on the task, worked out once per placement. */
interface TaskTerms {
  tau: number;
  theta: RtsParams['theta'];
  startS: number;
  deadlineS: number;
  alpha: number;
  beta: number;
  /** This task type's affinities, undefined when the parameters name none. */
  affinities: Readonly<Record<string, number>> | undefined;
  /** Undefined when the parameters penalize no worker. */
  penalty: Readonly<Record<string, number>> | undefined;
}

function taskTerms(task: TaskSpec, now: number, params: RtsParams): TaskTerms {
  const tau = params.tauSeconds[task.type];
  const affinities = params.affinity[task.type];
  return {
    tau,
    theta: params.theta,
    startS: Math.max(now, task.submittedAt) / 1_000,
    deadlineS: task.submittedAt / 1_000 + task.k * tau,
    alpha: params.alpha,
    beta: params.beta,
    affinities: affinities && Object.keys(affinities).length > 0 ? affinities : undefined,
    penalty: Object.keys(params.penalty).length > 0 ? params.penalty : undefined,
  };
}

/**
 * E = τ·(1 + θ1·C/C_free + θ2·M/M_free + θ3·G/G_free + θ4·load), finish = max(now, submittedAt) + E,
 * deadline = submittedAt + k·τ, risk = α·max(0, finish − deadline) + β·load − affinity + penalty.
 */
export function scoreRts(
  task: TaskSpec,
  candidate: CandidateWorker,
  now: number,
  params: RtsParams,
): RtsScore {
  const score = emptyScore();
  lowestRisk(task, taskTerms(task, now, params), candidatesOf([candidate]), score);
  return score;
}

/**
 * The slot of the candidate with the lowest finite risk, -1 when none has one; ties go to the
 * faster prediction, then to the lower id. One scan with the formula written out, allocating
 * nothing: a placement scores one task against every candidate, so this is the inner loop.
 * `details`, when given, receives the last candidate's score in full.
 */
function lowestRisk(task: TaskSpec, terms: TaskTerms, candidates: Candidates, details?: RtsScore): number {
  const { count, slots, workerIds, capacity, allocated, free } = candidates;
  const { tau, startS, deadlineS, alpha, beta, affinities, penalty } = terms;
  const [theta1, theta2, theta3, theta4] = terms.theta;
  const { cpu, memoryGb, gpu } = task;
  const perWorkerTerms = affinities !== undefined || penalty !== undefined;
  let bestSlot = -1;
  let bestRisk = 0;
  let bestRuntime = 0;
  for (let index = 0; index < count; index++) {
    const slot = slots[index] as number;
    const load = workerLoad(
      capacity.cpu[slot] as number,
      capacity.memoryGb[slot] as number,
      capacity.gpu[slot] as number,
      allocated.cpu[slot] as number,
      allocated.memoryGb[slot] as number,
      allocated.gpu[slot] as number,
    );
    const runtimeS =
      tau *
      (1 +
        theta1 * pressure(cpu, free.cpu[slot] as number) +
        theta2 * pressure(memoryGb, free.memoryGb[slot] as number) +
        theta3 * pressure(gpu, free.gpu[slot] as number) +
        theta4 * load);
    const overrunS = Math.max(0, startS + runtimeS - deadlineS);
    let risk = alpha * overrunS + beta * load;
    if (perWorkerTerms) {
      const workerId = workerIds[slot] as string;
      risk = risk - perWorker(affinities, workerId) + perWorker(penalty, workerId);
    }
    if (details) {
      details.workerId = workerIds[slot] as string;
      details.runtimeS = runtimeS;
      details.overrunS = overrunS;
      details.load = load;
      details.risk = risk;
    }
    if (!Number.isFinite(risk)) continue;
    // Equal risk and runtime (or runtimes that do not compare): the lower id.
    if (
      bestSlot < 0 ||
      risk < bestRisk ||
      (risk === bestRisk &&
        (runtimeS < bestRuntime ||
          (!(runtimeS > bestRuntime) && (workerIds[slot] as string) < (workerIds[bestSlot] as string))))
    ) {
      bestSlot = slot;
      bestRisk = risk;
      bestRuntime = runtimeS;
    }
  }
  return bestSlot;
}

function emptyScore(): RtsScore {
  return { workerId: '', runtimeS: 0, overrunS: 0, load: 0, risk: 0 };
}

/**
 * Risk-aware task scheduling: the candidate with the lowest risk; ties go to the faster
 * prediction, then to the lower id, so choices are reproducible. When no candidate gets a
 * finite score (a τ of 0, a parameter that overflows), it falls back to round-robin.
 */
export function createRtsPolicy(params: RtsParams, fallback: PlacementPolicy): PlacementPolicy {
  // Only affinity and penalty tell two workers of equal capacity and allocation apart.
  const named = new Set([
    ...Object.values(params.affinity).flatMap((perType) => Object.keys(perType ?? {})),
    ...Object.keys(params.penalty),
  ]);
  return {
    name: 'rts',
    interchangeable: { named },
    choose(task, candidates, now) {
      const bestSlot = lowestRisk(task, taskTerms(task, now, params), candidates);
      if (bestSlot < 0) return fallback.choose(task, candidates.everyone(), now);
      return { workerId: candidates.workerIds[bestSlot] as string, policy: 'rts' };
    },
  };
}
