import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DEFAULT_MAX_HEARTBEAT_BYTES } from '../../control-plane/heartbeat-intake.js';
import { decodeHeartbeat, encodeHeartbeat, type HeartbeatInput } from '../../streams/contracts/heartbeat.js';
import { EXAMPLE_HEARTBEAT } from '../support/heartbeats.js';

const MAX_BYTES = DEFAULT_MAX_HEARTBEAT_BYTES;
const valid: HeartbeatInput = EXAMPLE_HEARTBEAT;
const text = (value: unknown) =>
  new TextEncoder().encode(typeof value === 'string' ? value : JSON.stringify(value));
const reasonOf = (subject: string, payload: Uint8Array) => {
  const result = decodeHeartbeat(subject, payload, MAX_BYTES);
  return result.ok ? 'ok' : result.reason;
};

test('the DESIGN example heartbeat is accepted as sent', () => {
  const result = decodeHeartbeat('heartbeat.tessa', encodeHeartbeat(valid), MAX_BYTES);
  assert.ok(result.ok);
  if (result.ok) assert.equal(result.heartbeat, valid);
});

test('optional fields get defaults', () => {
  const result = decodeHeartbeat(
    'heartbeat.kim',
    text({ workerId: 'kim', sentAt: 1, seq: 1, capacity: { cpu: 2, memoryGb: 4 } }),
    MAX_BYTES,
  );
  assert.ok(result.ok);
  if (result.ok) {
    assert.equal(result.heartbeat.capacity, { cpu: 2, memoryGb: 4, storageGb: 0, gpu: 0 });
    assert.equal(result.heartbeat.runningTasks, []);
    assert.is(result.heartbeat.address, '');
  }
});

test('each kind of bad input is rejected with its reason', () => {
  const cases: Array<[string, string, Uint8Array]> = [
    ['malformed-json', 'heartbeat.tessa', text('{"workerId": "tessa",')],
    ['malformed-json', 'heartbeat.tessa', new Uint8Array([0xff, 0xfe, 0x00, 0x81])],
    ['invalid-fields', 'heartbeat.tessa', text({ ...valid, seq: 'forty-two' })],
    ['invalid-fields', 'heartbeat.tessa', text({ ...valid, capacity: { cpu: -1, memoryGb: 16 } })],
    ['invalid-fields', 'heartbeat.tessa', text({ ...valid, capacity: { cpu: 1e300, memoryGb: 16 } })],
    ['invalid-fields', 'heartbeat.tessa', text({ ...valid, usage: { cpu: 7 } })],
    ['invalid-fields', 'heartbeat.tessa', text('[1,2,3]')],
    ['invalid-fields', 'heartbeat.tessa', text('null')],
    [
      'invalid-fields',
      'heartbeat.tessa',
      text(`{"workerId":"tessa","sentAt":1,"seq":1,"capacity":${'['.repeat(5_000)}${']'.repeat(5_000)}}`),
    ],
    ['subject-mismatch', 'heartbeat.kim', encodeHeartbeat(valid)],
    ['invalid-subject', 'heartbeat.bad!id', encodeHeartbeat({ ...valid, workerId: 'bad!id' })],
    ['invalid-subject', `heartbeat.${'x'.repeat(65)}`, encodeHeartbeat(valid)],
    ['invalid-subject', 'heartbeat.tëssa', encodeHeartbeat(valid)],
    ['invalid-subject', 'other.tessa', encodeHeartbeat(valid)],
    ['oversized', 'heartbeat.tessa', new Uint8Array(MAX_BYTES + 1)],
  ];
  for (const [expected, subject, payload] of cases) {
    assert.is(
      reasonOf(subject, payload),
      expected,
      `${subject}: ${new TextDecoder().decode(payload.slice(0, 60))}`,
    );
  }
});

test('NaN and Infinity cannot be expressed in JSON, and their usual encodings are rejected', () => {
  assert.is(reasonOf('heartbeat.tessa', text('{"workerId":"tessa","sentAt":NaN}')), 'malformed-json');
  assert.is(reasonOf('heartbeat.tessa', text({ ...valid, sentAt: null })), 'invalid-fields');
  assert.is(reasonOf('heartbeat.tessa', text({ ...valid, sentAt: 'Infinity' })), 'invalid-fields');
});

test.run();
