import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { InterArrivalWindow, PhiAccrualDetector, phi, zForPhi } from '../../actors/phi-accrual.js';
import { livenessSettings } from '../support/liveness.js';

/** Equal to within `tolerance`, relative. */
function near(actual: number, expected: number, tolerance = 1e-6): void {
  assert.ok(
    Math.abs(actual - expected) <= tolerance * Math.abs(expected),
    `${actual} is not within ${tolerance} of ${expected}`,
  );
}

// Hand-computed: 1 − Φ(0) = 0.5, 1 − Φ(2) = 0.022750131948, 1 − Φ(3) = 0.001349898032,
// 1 − Φ(5) = 2.866515719e-7 (standard normal tables); φ = −log10 of each.
test('φ under the normal model matches values computed by hand', () => {
  near(phi(1_000, 1_000, 100), Math.log10(2)); // 0.30103: at the mean, half the beats are later
  near(phi(1_200, 1_000, 100), 1.643016);
  near(phi(1_300, 1_000, 100), 2.869699);
  near(phi(1_500, 1_000, 100), 6.542646);
  // Early: φ near 0, never negative.
  assert.ok(phi(500, 1_000, 100) < 1e-6 && phi(500, 1_000, 100) >= 0);
});

test('φ grows with the silence and shrinks with the deviation', () => {
  assert.ok(phi(7_000, 5_000, 500) > phi(6_000, 5_000, 500));
  assert.ok(phi(7_000, 5_000, 2_000) < phi(7_000, 5_000, 500));
});

test('the z where φ reaches 8 is 5.612: 1 − Φ(5.612) = 10⁻⁸', () => {
  near(zForPhi(8), 5.612, 1e-4);
  near(phi(5.612 * 100 + 1_000, 1_000, 100), 8, 1e-3);
  near(zForPhi(1), 1.2816, 1e-4); // 1 − Φ(1.2816) = 0.1
});

test('the window keeps the last N inter-arrival times, with their mean and deviation', () => {
  const window = new InterArrivalWindow(4);
  for (const interval of [1_000, 3_000]) window.add(interval);
  assert.is(window.count, 2);
  assert.is(window.meanMs, 2_000);
  assert.is(window.stdDevMs, 1_000);
  for (const interval of [5_000, 5_000, 5_000, 5_000]) window.add(interval);
  assert.is(window.count, 4, 'bounded: the oldest samples are dropped');
  assert.is(window.meanMs, 5_000);
  assert.is(window.stdDevMs, 0);
  window.add(100_000);
  assert.is(window.meanMs, (3 * 5_000 + 65_535) / 4, 'a sample beyond 65.5 s is stored as 65.5 s');
});

test('too few samples: the fixed suspectAfterMs decides; then φ, with σ never below its floor', () => {
  const settings = livenessSettings().suspicion; // threshold 8, fallback 10 s, 10 samples, σ ≥ 500 ms
  const detector = new PhiAccrualDetector(settings);
  assert.equal(detector.suspicionOf(undefined), { afterMs: 10_000, phi: null });
  const window = detector.newWindow();
  for (let sample = 0; sample < 9; sample++) window.add(5_000);
  assert.equal(detector.suspicionOf(window), { afterMs: 10_000, phi: null });
  window.add(5_000);
  // Clockwork at 5 s: σ = 0, floored to 500 ms → 5 000 + 5.612 × 500.
  assert.equal(detector.suspicionOf(window), { afterMs: 7_806, phi: 8 });
});

test('a jittery worker is given more slack than a clockwork one', () => {
  const detector = new PhiAccrualDetector(livenessSettings().suspicion);
  const jittery = detector.newWindow();
  for (let sample = 0; sample < 10; sample++) jittery.add(sample % 2 === 0 ? 2_000 : 8_000);
  // Mean 5 000, σ 3 000 → 5 000 + 5.612 × 3 000.
  assert.equal(detector.suspicionOf(jittery), { afterMs: 21_836, phi: 8 });
});

test.run();
