import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { HeartbeatSampleBuffer } from '../../projections/heartbeat-samples.js';

const usage = (cpu: number) => ({ cpu, memory: 0, storage: 0, gpu: 0 });
const plain = (samples: readonly object[]) =>
  samples.map((sample) => ({ ...sample, queued: undefined, parked: undefined }));

test('keeps only the newest sample of each worker, in first-heard order', () => {
  const buffer = new HeartbeatSampleBuffer();
  buffer.record('tessa', 1, usage(0.1));
  buffer.record('kim', 2, usage(0.2));
  buffer.record('tessa', 3, usage(0.3));
  assert.is(buffer.waiting, 2);
  assert.equal(plain(buffer.take()), [
    { workerId: 'tessa', receivedAt: 3, usage: usage(0.3), queued: undefined, parked: undefined },
    { workerId: 'kim', receivedAt: 2, usage: usage(0.2), queued: undefined, parked: undefined },
  ]);
  assert.is(buffer.waiting, 0);
  assert.equal(buffer.take(), []);
});

test('a heartbeat after take is queued for the next batch; a parked worker waits until unparked', () => {
  const buffer = new HeartbeatSampleBuffer();
  buffer.record('tessa', 1, usage(0.1));
  buffer.record('kim', 1, usage(0.1));
  const first = buffer.take();
  buffer.record('tessa', 5, usage(0.5));
  // The taken sample is the worker's live slot: a batch written late writes the newest.
  assert.is(first[0]?.receivedAt, 5);
  // kim has no document yet: its heartbeats wait, however many come, until its first event is applied.
  buffer.park('kim');
  buffer.record('kim', 6, usage(0.6));
  buffer.park('nobody');
  assert.equal(
    buffer.take().map((sample) => [sample.workerId, sample.receivedAt]),
    [['tessa', 5]],
  );
  assert.is(buffer.unpark('kim')?.receivedAt, 6);
  assert.is(buffer.unpark('kim'), undefined);
  assert.is(buffer.unpark('nobody'), undefined);
  buffer.record('kim', 7, usage(0.7));
  assert.equal(
    buffer.take().map((sample) => [sample.workerId, sample.receivedAt]),
    [['kim', 7]],
  );
});

test('unpark hands over a parked sample to be written with its worker’s first document, once', () => {
  const buffer = new HeartbeatSampleBuffer();
  buffer.record('kim', 1, usage(0.1));
  buffer.take();
  buffer.park('kim');
  buffer.record('kim', 2, usage(0.2));
  assert.is(buffer.waiting, 0);
  assert.is(buffer.unpark('nobody'), undefined);
  const sample = buffer.unpark('kim');
  assert.equal([sample?.workerId, sample?.receivedAt, sample?.usage.cpu], ['kim', 2, 0.2]);
  // Not queued again: the batch that unparked it writes it.
  assert.is(buffer.waiting, 0);
  assert.is(buffer.unpark('kim'), undefined);
  assert.is(buffer.waiting, 0);
  // Unparked: the next heartbeat is queued as any other.
  buffer.record('kim', 3, usage(0.3));
  assert.equal(
    buffer.take().map((taken) => [taken.workerId, taken.receivedAt]),
    [['kim', 3]],
  );
});

test('take(max) hands over the oldest waiting samples; the rest wait for the next take', () => {
  const buffer = new HeartbeatSampleBuffer();
  for (const [index, workerId] of ['a', 'b', 'c', 'd', 'e'].entries())
    buffer.record(workerId, index, usage(0));
  assert.equal(
    buffer.take(2).map((sample) => sample.workerId),
    ['a', 'b'],
  );
  assert.is(buffer.waiting, 3);
  // A taken worker heard again queues behind those still waiting.
  buffer.record('a', 10, usage(0));
  assert.equal(
    buffer.take(3).map((sample) => sample.workerId),
    ['c', 'd', 'e'],
  );
  assert.equal(
    buffer.take(3).map((sample) => [sample.workerId, sample.receivedAt]),
    [['a', 10]],
  );
  assert.is(buffer.waiting, 0);
});

test.run();
