import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DEFAULT_MAX_HEARTBEAT_BYTES } from '../../control-plane/heartbeat-intake.js';
import {
  acceptHeartbeatFast,
  decodeHeartbeat,
  encodeHeartbeat,
  type HeartbeatInput,
  heartbeatSchema,
} from '../../streams/contracts/heartbeat.js';
import { EXAMPLE_HEARTBEAT } from '../support/heartbeats.js';

/*
 * The fast heartbeat validator must never accept what the zod schema rejects, and must give
 * the same result for what it accepts; rejections are always worded by the schema. These
 * tests compare the two on a systematic set of mutations of a valid heartbeat.
 */

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

const VALID = EXAMPLE_HEARTBEAT as unknown as { [key: string]: Json };

const PATHS = [
  ['workerId'],
  ['sentAt'],
  ['seq'],
  ['address'],
  ['capacity'],
  ['capacity', 'cpu'],
  ['capacity', 'memoryGb'],
  ['capacity', 'storageGb'],
  ['capacity', 'gpu'],
  ['capacity', 'runtime'],
  ['usage'],
  ['usage', 'cpu'],
  ['usage', 'memory'],
  ['usage', 'storage'],
  ['usage', 'gpu'],
  ['runningTasks'],
  ['runningTasks', '0'],
  ['runningTasks', '0', 'taskId'],
  ['runningTasks', '0', 'cpu'],
  ['runningTasks', '0', 'memoryGb'],
  ['runningTasks', '0', 'gpu'],
];

const DELETE = Symbol('delete');
// Boundaries of every bound in the schema, wrong types, and strings that are long in UTF-16
// units but short in code points (the schema counts code points).
const REPLACEMENTS: Array<Json | typeof DELETE> = [
  DELETE,
  null,
  true,
  '',
  'x',
  'podman',
  'process',
  '8',
  'bad id!',
  'a'.repeat(64),
  'a'.repeat(65),
  'a'.repeat(128),
  'a'.repeat(129),
  'a'.repeat(256),
  'a'.repeat(257),
  '😀'.repeat(100),
  '😀'.repeat(200),
  '😀'.repeat(256),
  '😀'.repeat(257),
  -1,
  -0,
  0,
  0.5,
  1,
  1.5,
  2,
  10_000,
  10_001,
  100_000,
  100_001,
  1_000_000_000,
  1_000_000_001,
  Number.MAX_SAFE_INTEGER,
  Number.MAX_SAFE_INTEGER + 2,
  1e308,
  [],
  [1],
  {},
  { cpu: 1 },
  { cpu: 1, memoryGb: 2 },
  [{ taskId: 'a' }],
  [{ taskId: '' }],
  [{ taskId: 'a', cpu: -1 }],
];

function withChange(base: Json, path: readonly string[], value: Json | typeof DELETE): Json {
  const copy = structuredClone(base);
  let target = copy as { [key: string]: Json } | Json[];
  for (const key of path.slice(0, -1)) {
    const next = (target as { [key: string]: Json })[key];
    if (typeof next !== 'object' || next === null) return copy;
    target = next as { [key: string]: Json };
  }
  const last = path.at(-1) as string;
  if (value === DELETE) delete (target as { [key: string]: Json })[last];
  else (target as { [key: string]: Json })[last] = value;
  return copy;
}

/** Deterministic, so a failure reproduces (mulberry32). */
function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let mixed = Math.imul(state ^ (state >>> 15), 1 | state);
    mixed = (mixed + Math.imul(mixed ^ (mixed >>> 7), 61 | mixed)) ^ mixed;
    return ((mixed ^ (mixed >>> 14)) >>> 0) / 4_294_967_296;
  };
}

function mutations(): Json[] {
  const cases: Json[] = [VALID, { ...VALID, extra: 'dropped', capacity: { cpu: 1, memoryGb: 1, other: 2 } }];
  for (const path of PATHS) for (const value of REPLACEMENTS) cases.push(withChange(VALID, path, value));
  // Combinations of two to four changes, which single mutations miss (e.g. two defaults at once).
  const next = random(5);
  const pick = <T>(items: readonly T[]) => items[Math.floor(next() * items.length)] as T;
  for (let round = 0; round < 3_000; round++) {
    let json: Json = VALID;
    const changes = 2 + Math.floor(next() * 3);
    for (let change = 0; change < changes; change++) json = withChange(json, pick(PATHS), pick(REPLACEMENTS));
    cases.push(json);
  }
  cases.push(null, 1, 'heartbeat', [], [VALID], {});
  return cases;
}

test('the fast path accepts only what the schema accepts, with the same result', () => {
  let accepted = 0;
  let rejected = 0;
  for (const json of mutations()) {
    const reference = heartbeatSchema.safeParse(json);
    const fast = acceptHeartbeatFast(json);
    if (reference.success) accepted++;
    else rejected++;
    if (fast === undefined) continue;
    assert.ok(reference.success, `fast path accepted what the schema rejects: ${JSON.stringify(json)}`);
    assert.equal(fast, reference.data, JSON.stringify(json));
    assert.equal(Object.keys(fast), Object.keys(reference.data), 'same key order, so the same JSON');
  }
  // Both kinds are well represented, or the comparison proves little.
  assert.ok(accepted > 200, `only ${accepted} accepted cases`);
  assert.ok(rejected > 1_000, `only ${rejected} rejected cases`);
});

test('the fast path takes every ordinary heartbeat, with defaults filled as the schema fills them', () => {
  const minimal: HeartbeatInput = { workerId: 'kim', sentAt: 0, seq: 0, capacity: { cpu: 1, memoryGb: 2 } };
  for (const json of [VALID, minimal, { ...VALID, runningTasks: [] }, { ...VALID, usage: { cpu: 1 } }]) {
    const fast = acceptHeartbeatFast(json);
    assert.ok(fast, `declined ${JSON.stringify(json)}`);
    assert.equal(fast, heartbeatSchema.parse(json));
  }
  assert.equal(acceptHeartbeatFast(minimal), {
    workerId: 'kim',
    sentAt: 0,
    seq: 0,
    address: '',
    capacity: { cpu: 1, memoryGb: 2, storageGb: 0, gpu: 0 },
    usage: { cpu: 0, memory: 0, storage: 0, gpu: 0 },
    runningTasks: [],
  });
});

test('rejections keep the schema’s reasons and messages', () => {
  const decode = (json: Json, subject = 'heartbeat.tessa') =>
    decodeHeartbeat(subject, new TextEncoder().encode(JSON.stringify(json)), DEFAULT_MAX_HEARTBEAT_BYTES);
  const negativeCpu = decode(withChange(VALID, ['capacity', 'cpu'], -1));
  const expected = heartbeatSchema.safeParse(withChange(VALID, ['capacity', 'cpu'], -1));
  assert.not.ok(expected.success);
  assert.equal(negativeCpu, {
    ok: false,
    reason: 'invalid-fields',
    detail: `capacity.cpu: ${expected.error?.issues[0]?.message}`,
  });
  assert.equal(decode(withChange(VALID, ['runningTasks', '0', 'taskId'], '')).ok, false);
  assert.equal(decode(withChange(VALID, ['usage', 'cpu'], 1.5)).ok, false);
  const mismatch = decode(VALID, 'heartbeat.kim');
  assert.equal(mismatch, {
    ok: false,
    reason: 'subject-mismatch',
    detail: 'payload workerId tessa published on heartbeat.kim',
  });
  const good = decodeHeartbeat('heartbeat.tessa', encodeHeartbeat(VALID as unknown as HeartbeatInput), 1024);
  assert.equal(good, { ok: true, heartbeat: heartbeatSchema.parse(VALID) });
});

test.run();
