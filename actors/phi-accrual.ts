import type { SuspicionSettings } from './liveness-settings.js';

/**
 * The φ accrual failure detector (Hayashibara, Défago, Yared, Katayama, 2004). Instead of
 * one fixed timeout, each worker's heartbeat inter-arrival times are modelled as a normal
 * distribution N(μ, σ²), and the silence Δt since its last heartbeat is turned into
 *
 *   φ(Δt) = −log10(1 − F(Δt)),   F the normal CDF,
 *
 * the (negative log) chance that a heartbeat is merely this late: φ = 8 means 10⁻⁸. A worker
 * that beats like clockwork has a small σ, so φ climbs fast once a beat is missed; a jittery
 * one gets more slack. σ is never taken below a floor, or a clockwork worker would be
 * suspected at the first millisecond of jitter.
 *
 * Since φ only grows with Δt, the fleet does not sample it: it computes once, at each
 * heartbeat, the silence at which φ will reach the threshold, and arms a timer for it.
 */

/** 1 − Φ(z) for the standard normal, with small relative error even far in the tail. */
function normalTail(z: number): number {
  return 0.5 * erfc(z / Math.SQRT2);
}

/**
 * The complementary error function (Numerical Recipes' Chebyshev fit, fractional error below
 * 1.2·10⁻⁷ everywhere): `1 − erf(x)` computed directly keeps its precision where 1 − F is 10⁻⁸.
 */
function erfc(x: number): number {
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  let polynomial = 0;
  for (let index = ERFC_COEFFICIENTS.length - 1; index >= 0; index--) {
    polynomial = polynomial * t + (ERFC_COEFFICIENTS[index] as number);
  }
  const tail = t * Math.exp(-z * z + polynomial);
  return x >= 0 ? tail : 2 - tail;
}

const ERFC_COEFFICIENTS = [
  -1.26551223, 1.00002368, 0.37409196, 0.09678418, -0.18628806, 0.27886807, -1.13520398, 1.48851587,
  -0.82215223, 0.17087277,
];

/** φ of a silence of `elapsedMs` for a worker whose inter-arrival times have this mean and deviation. */
export function phi(elapsedMs: number, meanMs: number, stdDevMs: number): number {
  const tail = normalTail((elapsedMs - meanMs) / stdDevMs);
  return tail > 0 ? -Math.log10(tail) : Number.POSITIVE_INFINITY;
}

/**
 * The z at which the standard normal's φ reaches `threshold`, i.e. 1 − Φ(z) = 10^−threshold.
 * φ grows with z, so bisection finds it; it is computed once per threshold, not per heartbeat.
 */
export function zForPhi(threshold: number): number {
  let low = -10;
  let high = 40;
  for (let step = 0; step < 100; step++) {
    const middle = (low + high) / 2;
    if (-Math.log10(normalTail(middle)) < threshold) low = middle;
    else high = middle;
  }
  return high;
}

/** When a silent worker becomes suspect, as decided at its last heartbeat. */
export interface Suspicion {
  /** Silence after the last heartbeat at which the worker becomes suspect. */
  afterMs: number;
  /** φ at that silence: the threshold when φ decided, null when the fixed fallback did. */
  phi: number | null;
}

/** Longest inter-arrival time stored (2¹⁶ − 1 ms); longer ones are stored as this. */
const LONGEST_SAMPLE_MS = 0xffff;

/**
 * A worker's recent heartbeat inter-arrival times: a bounded ring of whole milliseconds with
 * running sums, so adding a sample and reading μ and σ cost O(1) and the memory is fixed.
 *
 * Two bytes a sample, half of a 32-bit store, because the windows of a large fleet add up: a
 * longer sample is stored as LONGEST_SAMPLE_MS. Only gaps shorter than the heartbeat timeout
 * are samples, so this clipping matters only for longer timeouts (φ then suspects a little sooner).
 */
export class InterArrivalWindow {
  private readonly samples: Uint16Array;
  private next = 0;
  private size = 0;
  private sum = 0;
  private sumOfSquares = 0;

  constructor(capacity: number) {
    this.samples = new Uint16Array(capacity);
  }

  get count(): number {
    return this.size;
  }

  add(intervalMs: number): void {
    const sample = Math.min(LONGEST_SAMPLE_MS, Math.max(0, Math.round(intervalMs)));
    if (this.size === this.samples.length) {
      const dropped = this.samples[this.next] as number;
      this.sum -= dropped;
      this.sumOfSquares -= dropped * dropped;
    } else {
      this.size++;
    }
    this.samples[this.next] = sample;
    this.next = (this.next + 1) % this.samples.length;
    this.sum += sample;
    this.sumOfSquares += sample * sample;
  }

  get meanMs(): number {
    return this.size === 0 ? 0 : this.sum / this.size;
  }

  /** Population standard deviation (the window is the whole population the model is fitted to). */
  get stdDevMs(): number {
    if (this.size === 0) return 0;
    const mean = this.meanMs;
    return Math.sqrt(Math.max(0, this.sumOfSquares / this.size - mean * mean));
  }
}

/** Turns a worker's window into the silence that makes it suspect, per the settings. */
export class PhiAccrualDetector {
  private readonly zAtThreshold: number;

  constructor(private readonly settings: SuspicionSettings) {
    this.zAtThreshold = zForPhi(settings.phiThreshold);
  }

  newWindow(): InterArrivalWindow {
    return new InterArrivalWindow(this.settings.windowSize);
  }

  /** Until the window holds `minSamples`, the fixed `suspectAfterMs`; then where φ reaches the threshold. */
  suspicionOf(window: InterArrivalWindow | undefined): Suspicion {
    if (!window || window.count < this.settings.minSamples) {
      return { afterMs: this.settings.suspectAfterMs, phi: null };
    }
    const stdDev = Math.max(window.stdDevMs, this.settings.minStdDevMs);
    return {
      afterMs: Math.round(window.meanMs + this.zAtThreshold * stdDev),
      phi: this.settings.phiThreshold,
    };
  }
}
