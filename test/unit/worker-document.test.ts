import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { UptimeRecord } from '../../projections/uptime.js';
import {
  applyHeartbeatSample,
  evolveWorker,
  type WorkerDocument,
} from '../../projections/worker-document.js';
import type { WorkerEvent } from '../../streams/contracts/worker-events.js';
import { workerDocument } from '../support/workers.js';

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

/** The uptime record of a worker registered at 1 000, plus what a test changes. */
const uptime = (changes: Partial<UptimeRecord> = {}): UptimeRecord => ({
  since: 1_000,
  activeMs: 0,
  suspectMs: 0,
  inactiveMs: 0,
  outages: 0,
  recoveries: 0,
  recoveredDowntimeMs: 0,
  downSince: null,
  recentDowntimes: [],
  ...changes,
});

const registeredDocument = workerDocument('tessa', { address: 'a:1', capacity, uptime: uptime() });

test('WorkerRegistered on an empty document creates an active worker', () => {
  assert.equal(evolveWorker(undefined, registered), registeredDocument);
});

test('WorkerRegistered on an existing document keeps its registration time', () => {
  const again: WorkerEvent = { ...registered, at: 9_000, seq: 5, address: 'b:2', capacity: bigger };
  const inactive: WorkerDocument = {
    ...registeredDocument,
    status: 'inactive',
    statusSince: 4_000,
    lastEventSeq: 4,
    uptime: uptime({ activeMs: 3_000, outages: 1, downSince: 4_000 }),
  };
  assert.equal(evolveWorker(inactive, again), {
    ...registeredDocument,
    address: 'b:2',
    capacity: bigger,
    lastHeartbeatAt: 9_000,
    statusSince: 9_000,
    lastEventSeq: 5,
    // Back from inactive: a recovery, its outage among the recent ones.
    uptime: uptime({
      activeMs: 3_000,
      inactiveMs: 5_000,
      outages: 1,
      recoveries: 1,
      recoveredDowntimeMs: 5_000,
      recentDowntimes: [{ from: 4_000, to: 9_000 }],
    }),
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
    uptime: uptime({ activeMs: 30_000, outages: 1, downSince: 31_000 }),
  });
});

test('WorkerActivated brings an inactive worker back and moves last seen forward', () => {
  const inactiveDocument: WorkerDocument = {
    ...registeredDocument,
    status: 'inactive',
    statusSince: 31_000,
    lastEventSeq: 2,
    uptime: uptime({ activeMs: 30_000, outages: 1, downSince: 31_000 }),
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
    uptime: uptime({
      activeMs: 30_000,
      inactiveMs: 9_000,
      outages: 1,
      recoveries: 1,
      recoveredDowntimeMs: 9_000,
      recentDowntimes: [{ from: 31_000, to: 40_000 }],
    }),
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
    {
      type: 'WorkerSuspected',
      workerId: 'x',
      at: 11,
      seq: 3,
      lastHeartbeatAt: 2,
      silentForMs: 9,
      suspectAfterMs: 8,
      phi: 8.5,
    },
    { type: 'WorkerRecovered', workerId: 'x', at: 13, seq: 3, lastHeartbeatAt: 13 },
    { type: 'WorkerFlapping', workerId: 'x', at: 15, seq: 3, comebacks: 4, windowMs: 600_000, holdDownMs: 1 },
    { type: 'WorkerStabilized', workerId: 'x', at: 17, seq: 3, stableForMs: 1 },
    { type: 'WorkerCordoned', workerId: 'x', at: 19, seq: 3 },
    { type: 'WorkerUncordoned', workerId: 'x', at: 21, seq: 3 },
    { type: 'WorkerRemoved', workerId: 'x', at: 23, seq: 3 },
  ];
  const seen = events.map((event) => {
    const document = evolveWorker(undefined, event);
    assert.is(document.workerId, 'x');
    assert.is(document.lastEventSeq, 3);
    assert.is(document.registeredAt, event.at);
    assert.is(document.statusSince, event.at);
    assert.is(document.uptime?.since, event.at, `${event.type}: tracking starts with the first event`);
    assert.is(document.uptime?.outages, document.status === 'inactive' ? 1 : 0);
    return [document.status, document.flapping, document.cordoned];
  });
  assert.equal(seen, [
    ['active', false, false],
    ['inactive', false, false],
    ['active', false, false],
    ['suspect', false, false],
    ['active', false, false],
    ['active', true, false],
    ['active', false, false],
    ['active', false, true],
    ['active', false, false],
    ['removed', false, false],
  ]);
});

const suspected: WorkerEvent = {
  type: 'WorkerSuspected',
  workerId: 'tessa',
  at: 11_000,
  seq: 2,
  lastHeartbeatAt: 1_000,
  silentForMs: 10_000,
  suspectAfterMs: 10_000,
  phi: null,
};

const suspectDocument: WorkerDocument = {
  ...registeredDocument,
  status: 'suspect',
  statusSince: 11_000,
  lastEventSeq: 2,
  uptime: uptime({ activeMs: 10_000 }),
};

test('WorkerSuspected makes an active worker suspect; its last heartbeat stays what it was', () => {
  assert.equal(evolveWorker(registeredDocument, suspected), suspectDocument);
});

test('WorkerRecovered brings a suspect worker back: no outage, no recovery from one', () => {
  const recovered: WorkerEvent = {
    type: 'WorkerRecovered',
    workerId: 'tessa',
    at: 12_500,
    seq: 3,
    lastHeartbeatAt: 12_400,
  };
  assert.equal(evolveWorker(suspectDocument, recovered), {
    ...registeredDocument,
    status: 'active',
    lastHeartbeatAt: 12_400,
    statusSince: 12_500,
    lastEventSeq: 3,
    uptime: uptime({ activeMs: 10_000, suspectMs: 1_500 }),
  });
});

test('WorkerInactive after suspect: the outage starts at the timeout, suspect time is kept apart', () => {
  const inactive: WorkerEvent = {
    type: 'WorkerInactive',
    workerId: 'tessa',
    at: 31_000,
    seq: 3,
    lastHeartbeatAt: 1_000,
    silentForMs: 30_000,
  };
  assert.equal(evolveWorker(suspectDocument, inactive).uptime, {
    ...uptime({ activeMs: 10_000, suspectMs: 20_000, outages: 1, downSince: 31_000 }),
  });
});

test('flapping, stabilized, cordoned and uncordoned set their flag and nothing else', () => {
  const flagEvents: Array<[WorkerEvent, Partial<WorkerDocument>]> = [
    [
      {
        type: 'WorkerFlapping',
        workerId: 'tessa',
        at: 5_000,
        seq: 2,
        comebacks: 4,
        windowMs: 600_000,
        holdDownMs: 1,
      },
      { flapping: true },
    ],
    [
      { type: 'WorkerStabilized', workerId: 'tessa', at: 5_000, seq: 2, stableForMs: 300_000 },
      { flapping: false },
    ],
    [{ type: 'WorkerCordoned', workerId: 'tessa', at: 5_000, seq: 2 }, { cordoned: true }],
    [{ type: 'WorkerUncordoned', workerId: 'tessa', at: 5_000, seq: 2 }, { cordoned: false }],
  ];
  const flagged = { ...suspectDocument, flapping: true, cordoned: true, lastEventSeq: 1 };
  for (const [event, flags] of flagEvents) {
    const changed = evolveWorker(registeredDocument, event);
    assert.equal(changed, { ...registeredDocument, ...flags, lastEventSeq: 2 }, event.type);
    assert.is(changed.uptime, registeredDocument.uptime, 'the record is untouched');
    assert.equal(
      evolveWorker(flagged, event),
      { ...flagged, ...flags, lastEventSeq: 2 },
      `${event.type}, suspect`,
    );
  }
});

test('WorkerRemoved ends the current stretch; the worker keeps its flags while removed', () => {
  const removed: WorkerEvent = { type: 'WorkerRemoved', workerId: 'tessa', at: 61_000, seq: 3 };
  const cordoned = { ...registeredDocument, cordoned: true, lastEventSeq: 2 };
  assert.equal(evolveWorker(cordoned, removed), {
    ...cordoned,
    status: 'removed',
    statusSince: 61_000,
    lastEventSeq: 3,
    uptime: uptime({ activeMs: 60_000 }),
  });
});

test('WorkerRegistered after a removal starts afresh: flags, registration time and uptime', () => {
  const removedDocument: WorkerDocument = {
    ...registeredDocument,
    status: 'removed',
    statusSince: 61_000,
    cordoned: true,
    flapping: true,
    lastEventSeq: 7,
    uptime: uptime({
      activeMs: 40_000,
      inactiveMs: 20_000,
      outages: 1,
      recentDowntimes: [{ from: 41_000, to: 61_000 }],
    }),
  };
  const again: WorkerEvent = { ...registered, at: 90_000, seq: 8, address: 'b:2', capacity: bigger };
  assert.equal(evolveWorker(removedDocument, again), {
    ...registeredDocument,
    address: 'b:2',
    capacity: bigger,
    lastHeartbeatAt: 90_000,
    statusSince: 90_000,
    registeredAt: 90_000,
    lastEventSeq: 8,
    uptime: uptime({ since: 90_000 }),
  });
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
  for (const event of [
    { type: 'WorkerRemoved', workerId: 'tessa', at: 9_000, seq: 1 },
    { type: 'WorkerCordoned', workerId: 'tessa', at: 9_000, seq: 1 },
    { ...suspected, seq: 1 },
  ] satisfies WorkerEvent[]) {
    assert.is(evolveWorker(registeredDocument, event), registeredDocument, event.type);
  }
});

test('heartbeat samples move last seen and usage forward, never back', () => {
  const usage = { cpu: 0.5, memory: 0.25, storage: 0.1, gpu: 0 };
  const newer = applyHeartbeatSample(registeredDocument, { receivedAt: 5_000, usage });
  assert.equal(newer, { ...registeredDocument, lastHeartbeatAt: 5_000, usage });
  assert.is(applyHeartbeatSample(newer, { receivedAt: 4_000, usage: registeredDocument.usage }), newer);
  assert.is(newer.status, 'active');
});

test.run();
