import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  applyHeartbeatSample,
  evolveWorker,
  type WorkerDocument,
} from '../../projections/worker-document.js';
import type { WorkerEvent } from '../../streams/worker-events.js';

const capacity = { cpu: 8, memoryGb: 16, storageGb: 100, gpu: 1 };
const bigger = { cpu: 16, memoryGb: 32, storageGb: 200, gpu: 2 };

const registered: WorkerEvent = {
  type: 'WorkerRegistered',
  workerId: 'tessa',
  at: 1_000,
  seq: 1,
  address: 'a:1',
  capacity,
};

const registeredDocument: WorkerDocument = {
  workerId: 'tessa',
  status: 'active',
  address: 'a:1',
  capacity,
  usage: { cpu: 0, memory: 0, storage: 0, gpu: 0 },
  lastHeartbeatAt: 1_000,
  statusSince: 1_000,
  registeredAt: 1_000,
  lastEventSeq: 1,
  flapping: false,
  cordoned: false,
  allocated: { cpu: 0, memoryGb: 0, storageGb: 0, gpu: 0 },
  taskIds: [],
};

test('WorkerRegistered on an empty document creates an active worker', () => {
  assert.equal(evolveWorker(undefined, registered), registeredDocument);
});

test('WorkerRegistered on an existing document keeps its registration time', () => {
  const again: WorkerEvent = { ...registered, at: 9_000, seq: 5, address: 'b:2', capacity: bigger };
  const document = evolveWorker({ ...registeredDocument, status: 'inactive', lastEventSeq: 4 }, again);
  assert.equal(document, {
    ...registeredDocument,
    address: 'b:2',
    capacity: bigger,
    lastHeartbeatAt: 9_000,
    statusSince: 9_000,
    lastEventSeq: 5,
  });
});

test('WorkerInactive marks an existing worker inactive since the timeout', () => {
  const inactive: WorkerEvent = {
    type: 'WorkerInactive',
    workerId: 'tessa',
    at: 31_000,
    seq: 2,
    lastHeartbeatAt: 1_000,
    silentForMs: 30_000,
  };
  assert.equal(evolveWorker(registeredDocument, inactive), {
    ...registeredDocument,
    status: 'inactive',
    statusSince: 31_000,
    lastEventSeq: 2,
  });
});

test('WorkerActivated brings an inactive worker back and moves last seen forward', () => {
  const inactiveDocument: WorkerDocument = {
    ...registeredDocument,
    status: 'inactive',
    statusSince: 31_000,
    lastEventSeq: 2,
  };
  const activated: WorkerEvent = {
    type: 'WorkerActivated',
    workerId: 'tessa',
    at: 40_000,
    seq: 3,
    lastHeartbeatAt: 40_000,
  };
  assert.equal(evolveWorker(inactiveDocument, activated), {
    ...registeredDocument,
    status: 'active',
    lastHeartbeatAt: 40_000,
    statusSince: 40_000,
    lastEventSeq: 3,
  });
});

test('WorkerCapacityChanged updates address and capacity, not the status', () => {
  const changed: WorkerEvent = {
    type: 'WorkerCapacityChanged',
    workerId: 'tessa',
    at: 2_000,
    seq: 2,
    address: 'b:2',
    capacity: bigger,
  };
  assert.equal(evolveWorker(registeredDocument, changed), {
    ...registeredDocument,
    address: 'b:2',
    capacity: bigger,
    lastEventSeq: 2,
  });
});

test('every event type on an empty document still yields a document for that worker', () => {
  const events: WorkerEvent[] = [
    { type: 'WorkerActivated', workerId: 'x', at: 5, seq: 3, lastHeartbeatAt: 5 },
    { type: 'WorkerInactive', workerId: 'x', at: 7, seq: 3, lastHeartbeatAt: 2, silentForMs: 5 },
    { type: 'WorkerCapacityChanged', workerId: 'x', at: 9, seq: 3, address: 'c', capacity },
  ];
  const statuses = events.map((event) => {
    const document = evolveWorker(undefined, event);
    assert.is(document.workerId, 'x');
    assert.is(document.lastEventSeq, 3);
    assert.is(document.registeredAt, event.at);
    return document.status;
  });
  assert.equal(statuses, ['active', 'inactive', 'active']);
});

test('an event the document already reflects changes nothing (replays are harmless)', () => {
  const inactive: WorkerEvent = {
    type: 'WorkerInactive',
    workerId: 'tessa',
    at: 31_000,
    seq: 1,
    lastHeartbeatAt: 1_000,
    silentForMs: 30_000,
  };
  assert.is(evolveWorker(registeredDocument, inactive), registeredDocument);
});

test('heartbeat samples move last seen and usage forward, never back', () => {
  const usage = { cpu: 0.5, memory: 0.25, storage: 0.1, gpu: 0 };
  const newer = applyHeartbeatSample(registeredDocument, { receivedAt: 5_000, usage });
  assert.equal(newer, { ...registeredDocument, lastHeartbeatAt: 5_000, usage });
  assert.is(applyHeartbeatSample(newer, { receivedAt: 4_000, usage: registeredDocument.usage }), newer);
  assert.is(newer.status, 'active');
});

test.run();
