import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SimulatedClock } from 'xstate';
import { TimerQueue } from '../../actors/timer-queue.js';
import type { Clock } from '../../streams/util/clock.js';

/** A SimulatedClock that counts the timers set on it, to show the queue keeps only one. */
function countingClock() {
  const clock = new SimulatedClock();
  const counts = { set: 0, pending: 0 };
  const counting: Clock = {
    now: () => clock.now(),
    setTimeout: (callback, delayMs) => {
      counts.set++;
      counts.pending++;
      return clock.setTimeout(() => {
        counts.pending--;
        callback();
      }, delayMs);
    },
    clearTimeout: (handle) => {
      counts.pending--;
      clock.clearTimeout(handle as number);
    },
  };
  return { clock, counts, counting };
}

test('timers fire at their deadline, in deadline order, ties in the order they were set', () => {
  const { clock, counting } = countingClock();
  const queue = new TimerQueue({ clock: counting });
  const fired: string[] = [];
  queue.setTimeout(() => fired.push('c@30'), 30);
  queue.setTimeout(() => fired.push('a@10'), 10);
  queue.setTimeout(() => fired.push('b@10'), 10);
  clock.increment(9);
  assert.equal(fired, []);
  clock.increment(1);
  assert.equal(fired, ['a@10', 'b@10']);
  clock.increment(25);
  assert.equal(fired, ['a@10', 'b@10', 'c@30']);
  assert.is(queue.size, 0);
});

test('many timers use one timer of the underlying clock at a time', () => {
  const { clock, counts, counting } = countingClock();
  const queue = new TimerQueue({ clock: counting });
  let fired = 0;
  for (let index = 0; index < 1_000; index++) queue.setTimeout(() => fired++, 1_000 + index);
  assert.is(counts.pending, 1);
  clock.increment(2_000);
  assert.is(fired, 1_000);
  assert.is(counts.pending, 0);
});

test('a cleared timer never fires; clear() cancels them all', () => {
  const { clock, counts, counting } = countingClock();
  const queue = new TimerQueue({ clock: counting });
  const fired: string[] = [];
  const cancelled = queue.setTimeout(() => fired.push('cancelled'), 10);
  queue.setTimeout(() => fired.push('kept'), 20);
  queue.clearTimeout(cancelled);
  clock.increment(30);
  assert.equal(fired, ['kept']);
  queue.setTimeout(() => fired.push('dropped'), 10);
  queue.clear();
  assert.is(counts.pending, 0);
  clock.increment(30);
  assert.equal(fired, ['kept']);
});

test('a timer set by a firing callback runs when due, in the same pass if it is due already', () => {
  const { clock, counting } = countingClock();
  const queue = new TimerQueue({ clock: counting });
  const fired: Array<[string, number]> = [];
  queue.setTimeout(() => {
    fired.push(['first', clock.now()]);
    queue.setTimeout(() => fired.push(['immediate', clock.now()]), 0);
    queue.setTimeout(() => fired.push(['later', clock.now()]), 5);
  }, 10);
  clock.increment(10);
  assert.equal(fired, [
    ['first', 10],
    ['immediate', 10],
  ]);
  clock.increment(5);
  assert.equal(fired.at(-1), ['later', 15]);
});

test('a timer its owner cancels just before it fires does not fire', () => {
  const { clock, counting } = countingClock();
  const fired: string[] = [];
  let handle: unknown;
  const queue: TimerQueue<string> = new TimerQueue<string>({
    clock: counting,
    // As the fleet does: the owner catches up, which replaces its timer with a later one.
    beforeFire: (owner) => {
      queue.clearTimeout(handle);
      queue.runFor(owner, () => queue.setTimeout(() => fired.push(`${owner} later`), 50));
      return undefined;
    },
  });
  handle = queue.runFor('tessa', () => queue.setTimeout(() => fired.push('tessa first'), 10));
  clock.increment(10);
  assert.equal(fired, []);
  clock.increment(50);
  assert.equal(fired, ['tessa later']);
});

test('a timer its owner postpones fires at the new time, not before', () => {
  const { clock, counting } = countingClock();
  const fired: number[] = [];
  const postponements = [250, undefined];
  const queue = new TimerQueue<string>({ clock: counting, beforeFire: () => postponements.shift() });
  queue.runFor('tessa', () => queue.setTimeout(() => fired.push(clock.now()), 100));
  clock.increment(100);
  assert.equal(fired, []);
  clock.increment(149);
  assert.equal(fired, []);
  clock.increment(1);
  assert.equal(fired, [250]);
});

test('with continueLater, a crowd of due timers fires in slices, in order, all of them', () => {
  const { clock, counting } = countingClock();
  const pending: Array<() => void> = [];
  const queue = new TimerQueue({ clock: counting, continueLater: (resume) => pending.push(resume) });
  const fired: number[] = [];
  for (let index = 0; index < 1_000; index++) queue.setTimeout(() => fired.push(index), 100);
  clock.increment(100);
  assert.ok(fired.length > 0 && fired.length < 1_000, `first slice fired ${fired.length}`);
  let slices = 1;
  while (pending.length > 0 && slices < 100) {
    (pending.shift() as () => void)();
    slices++;
  }
  assert.equal(
    fired,
    Array.from({ length: 1_000 }, (_, index) => index),
  );
  assert.ok(slices > 1);
  // And it keeps serving timers afterwards.
  queue.setTimeout(() => fired.push(-1), 10);
  clock.increment(10);
  assert.is(fired.at(-1), -1);
});

test('a timer set under adopt() takes the place of the pending one: its due time and its turn among ties', () => {
  const { clock, counting } = countingClock();
  const queue = new TimerQueue({ clock: counting });
  const fired: string[] = [];
  const first = queue.setTimeout(() => fired.push('first'), 10);
  queue.setTimeout(() => fired.push('second'), 10);
  clock.increment(4);
  // Set 4 ms later with another delay, yet it fires when and where `first` would have.
  const [adopted, after] = queue.adopt(first, () => [
    queue.setTimeout(() => fired.push('adopted'), 6),
    queue.setTimeout(() => fired.push('third'), 6),
  ]);
  assert.is(adopted, first, 'the same timer, so cancelling it cancels the one in the queue');
  assert.is.not(after, first, 'only the first timer set takes over: this one is new');
  clock.increment(6);
  assert.equal(fired, ['adopted', 'second', 'third']);
  // A timer that fired (or was cancelled) is not taken over: a new one is set.
  const late = queue.adopt(first, () => queue.setTimeout(() => fired.push('late'), 5));
  assert.is.not(late, first);
  clock.increment(5);
  assert.equal(fired, ['adopted', 'second', 'third', 'late']);
});

test.run();
