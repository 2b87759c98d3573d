import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { raceTimeout } from '../../streams/util/timeout.js';

test('work that settles first wins, and its rejection passes through', async () => {
  assert.is(await raceTimeout(Promise.resolve('done'), 1_000, () => 'late'), 'done');
  const failing = raceTimeout(Promise.reject(new Error('broken')), 1_000, () => 'late');
  await failing.then(
    () => assert.unreachable('the rejection was lost'),
    (error: Error) => assert.is(error.message, 'broken'),
  );
});

test('work that does not settle in time gives the fallback, or its throw', async () => {
  const never = new Promise<string>(() => {});
  assert.is(await raceTimeout(never, 5, () => 'late'), 'late');
  await raceTimeout(never, 5, () => {
    throw new Error('no answer within 5 ms');
  }).then(
    () => assert.unreachable('the timeout did not reject'),
    (error: Error) => assert.is(error.message, 'no answer within 5 ms'),
  );
});

test.run();
