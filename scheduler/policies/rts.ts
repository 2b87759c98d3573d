import type { Resources } from '../../projections/resources.js';
import type { TaskSpec } from '../../streams/contracts/task-events.js';
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
function workerLoad(capacity: Resources, allocated: Resources): number {
  const cpuWeight = capacity.cpu;
  const memoryWeight = capacity.memoryGb / 10;
  const gpuWeight = capacity.gpu * 2;
  const total = cpuWeight + memoryWeight + gpuWeight;
  if (total === 0) return 0;
  return (
    (cpuWeight * share(allocated.cpu, capacity.cpu) +
      memoryWeight * share(allocated.memoryGb, capacity.memoryGb) +
      gpuWeight * share(allocated.gpu, capacity.gpu)) /
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
  return rtsScorer(task, now, params)(candidate, emptyScore());
}

/**
 * The formula above with everything that depends only on the task worked out once: a
 * placement scores one task against thousands of workers, so the per-worker part must be
 * small and allocate nothing (it writes into `into`).
 */
function rtsScorer(
  task: TaskSpec,
  now: number,
  params: RtsParams,
): (candidate: CandidateWorker, into: RtsScore) => RtsScore {
  const tau = params.tauSeconds[task.type];
  const [theta1, theta2, theta3, theta4] = params.theta;
  const startS = Math.max(now, task.submittedAt) / 1_000;
  const deadlineS = task.submittedAt / 1_000 + task.k * tau;
  const affinities = params.affinity[task.type];
  const { alpha, beta, penalty } = params;
  return (candidate, into) => {
    const load = workerLoad(candidate.capacity, candidate.allocated);
    const runtimeS =
      tau *
      (1 +
        theta1 * pressure(task.cpu, candidate.free.cpu) +
        theta2 * pressure(task.memoryGb, candidate.free.memoryGb) +
        theta3 * pressure(task.gpu, candidate.free.gpu) +
        theta4 * load);
    const overrunS = Math.max(0, startS + runtimeS - deadlineS);
    const affinity = affinities?.[candidate.workerId] ?? 0;
    into.workerId = candidate.workerId;
    into.runtimeS = runtimeS;
    into.overrunS = overrunS;
    into.load = load;
    into.risk = alpha * overrunS + beta * load - affinity + (penalty[candidate.workerId] ?? 0);
    return into;
  };
}

function emptyScore(): RtsScore {
  return { workerId: '', runtimeS: 0, overrunS: 0, load: 0, risk: 0 };
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
      // One pass for the minimum, reusing two score records: sorting every candidate's score
      // only to take the first was most of a placement's cost with thousands of workers.
      const score = rtsScorer(task, now, params);
      let best = emptyScore();
      let scratch = emptyScore();
      let found = false;
      for (const candidate of candidates) {
        score(candidate, scratch);
        if (Number.isFinite(scratch.risk) && (!found || lessRisky(scratch, best) < 0)) {
          [best, scratch] = [scratch, best];
          found = true;
        }
      }
      if (found) return { workerId: best.workerId, policy: 'rts' };
      return fallback.choose(task, candidates, now);
    },
  };
}
