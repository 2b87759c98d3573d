import type { Resources } from '../../projections/resources.js';
import type { TaskSpec } from '../../streams/task-events.js';
import type { CandidateWorker, PlacementPolicy } from './policy.js';
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
export function workerLoad(capacity: Resources, allocated: Resources): number {
  const weights = { cpu: capacity.cpu, memoryGb: capacity.memoryGb / 10, gpu: capacity.gpu * 2 };
  const total = weights.cpu + weights.memoryGb + weights.gpu;
  if (total === 0) return 0;
  const share = (used: number, of: number) => (of > 0 ? used / of : 0);
  return (
    (weights.cpu * share(allocated.cpu, capacity.cpu) +
      weights.memoryGb * share(allocated.memoryGb, capacity.memoryGb) +
      weights.gpu * share(allocated.gpu, capacity.gpu)) /
    total
  );
}

/** requested / free, 0 when nothing is requested (and 1, the original's value, when nothing is free). */
function pressure(requested: number, free: number): number {
  if (requested === 0) return 0;
  return free > 0 ? requested / free : 1;
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
  const tau = params.tauSeconds[task.type];
  const [theta1, theta2, theta3, theta4] = params.theta;
  const load = workerLoad(candidate.capacity, candidate.allocated);
  const runtimeS =
    tau *
    (1 +
      theta1 * pressure(task.cpu, candidate.free.cpu) +
      theta2 * pressure(task.memoryGb, candidate.free.memoryGb) +
      theta3 * pressure(task.gpu, candidate.free.gpu) +
      theta4 * load);
  const finishS = Math.max(now, task.submittedAt) / 1_000 + runtimeS;
  const deadlineS = task.submittedAt / 1_000 + task.k * tau;
  const overrunS = Math.max(0, finishS - deadlineS);
  const affinity = params.affinity[task.type]?.[candidate.workerId] ?? 0;
  const penalty = params.penalty[candidate.workerId] ?? 0;
  const risk = params.alpha * overrunS + params.beta * load - affinity + penalty;
  return { workerId: candidate.workerId, runtimeS, overrunS, load, risk };
}

/** Lowest risk first; ties go to the faster prediction, then to the lower id, so choices are reproducible. */
function lessRisky(a: RtsScore, b: RtsScore): number {
  return a.risk - b.risk || a.runtimeS - b.runtimeS || (a.workerId < b.workerId ? -1 : 1);
}

/**
 * Risk-aware task scheduling: the candidate with the lowest risk. When no candidate gets a
 * finite score (a τ of 0, a parameter that overflows), it falls back to round-robin.
 */
export function createRtsPolicy(params: RtsParams, fallback: PlacementPolicy): PlacementPolicy {
  return {
    name: 'rts',
    choose(task, candidates, now) {
      const scores = candidates
        .map((candidate) => scoreRts(task, candidate, now, params))
        .filter((score) => Number.isFinite(score.risk));
      const best = scores.sort(lessRisky)[0];
      if (best) return { workerId: best.workerId, policy: 'rts' };
      return fallback.choose(task, candidates, now);
    },
  };
}
