import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { renderAlert } from '../../cli/commands/alerts.js';
import { colors } from '../../cli/terminal.js';
import { alertOf, alertSubjectOf, decodeAlert, encodeAlert } from '../../streams/contracts/alerts.js';
import type { WorkerStreamEvent } from '../../streams/contracts/worker-events.js';

const AT = Date.UTC(2026, 10, 27, 12, 0, 0);
const RAISED_AT = AT + 7;

const cases: Array<{ event: WorkerStreamEvent; kind: string; subject: string; summary: RegExp }> = [
  {
    event: {
      type: 'WorkerInactive',
      workerId: 'tessa',
      at: AT,
      seq: 4,
      lastHeartbeatAt: AT - 30_000,
      silentForMs: 30_000,
    },
    kind: 'worker-inactive',
    subject: 'alerts.workers.tessa',
    summary:
      /^worker tessa is inactive: no heartbeat for 30\.0 s \(last at 2026-11-27T11:59:30\.000Z\); its tasks are placed elsewhere$/,
  },
  {
    event: { type: 'WorkerActivated', workerId: 'tessa', at: AT, seq: 5, lastHeartbeatAt: AT },
    kind: 'worker-active',
    subject: 'alerts.workers.tessa',
    summary: /^worker tessa is active again \(heartbeat at 2026-11-27T12:00:00\.000Z\)$/,
  },
  {
    event: {
      type: 'WorkerSuspected',
      workerId: 'kim',
      at: AT,
      seq: 2,
      lastHeartbeatAt: AT - 12_340,
      silentForMs: 12_340,
      suspectAfterMs: 12_000,
      phi: 8.42,
    },
    kind: 'worker-suspect',
    subject: 'alerts.workers.kim',
    summary:
      /^worker kim is suspect: no heartbeat for 12\.3 s \(φ 8\.4\); it keeps its tasks but gets no new ones$/,
  },
  {
    event: {
      type: 'WorkerSuspected',
      workerId: 'kim',
      at: AT,
      seq: 2,
      lastHeartbeatAt: AT - 10_000,
      silentForMs: 10_000,
      suspectAfterMs: 10_000,
      phi: null,
    },
    kind: 'worker-suspect',
    subject: 'alerts.workers.kim',
    summary: /^worker kim is suspect: no heartbeat for 10\.0 s \(grace of 10\.0 s passed\)/,
  },
  {
    event: { type: 'WorkerRecovered', workerId: 'kim', at: AT, seq: 3, lastHeartbeatAt: AT },
    kind: 'worker-recovered',
    subject: 'alerts.workers.kim',
    summary: /^worker kim recovered: a heartbeat came while it was suspect$/,
  },
  {
    event: {
      type: 'DisruptionStarted',
      at: AT,
      seq: 1,
      unhealthyWorkers: 6,
      consideredWorkers: 10,
      thresholdPercent: 55,
    },
    kind: 'disruption-started',
    subject: 'alerts.fleet.disruption',
    summary:
      /^disruption mode started: 6 of 10 workers went silent \(threshold 55 %\); no worker is declared inactive until it ends$/,
  },
  {
    event: { type: 'DisruptionEnded', at: AT, seq: 2, endedBy: 'operator' },
    kind: 'disruption-ended',
    subject: 'alerts.fleet.disruption',
    summary: /^disruption mode ended by an operator$/,
  },
  {
    event: { type: 'DisruptionEnded', at: AT, seq: 2, endedBy: 'heartbeats' },
    kind: 'disruption-ended',
    subject: 'alerts.fleet.disruption',
    summary: /^disruption mode ended as workers were heard again$/,
  },
];

for (const { event, kind, subject, summary } of cases) {
  test(`${event.type}${'phi' in event && event.phi === null ? ' (no φ yet)' : ''} raises ${kind} on ${subject}`, () => {
    const alert = alertOf(event, RAISED_AT);
    assert.ok(alert);
    assert.is(alert.alert, kind);
    assert.is(alert.workerId, 'workerId' in event ? event.workerId : undefined);
    assert.is('workerId' in alert, 'workerId' in event, 'no workerId key on fleet-wide alerts');
    assert.is(alertSubjectOf(alert), subject);
    assert.match(alert.summary, summary);
    assert.is(alert.raisedAt, RAISED_AT);
    assert.equal(alert.event, event);
    const decoded = decodeAlert(encodeAlert(alert));
    assert.ok(decoded.ok);
    assert.equal(decoded.ok && decoded.value, alert);
  });
}

test('registrations, capacity changes, flapping and operator events raise no alert', () => {
  const quiet: WorkerStreamEvent[] = [
    {
      type: 'WorkerRegistered',
      workerId: 'a',
      at: AT,
      seq: 1,
      address: '',
      capacity: { cpu: 1, memoryGb: 1, storageGb: 0, gpu: 0 },
    },
    {
      type: 'WorkerCapacityChanged',
      workerId: 'a',
      at: AT,
      seq: 2,
      address: '',
      capacity: { cpu: 2, memoryGb: 1, storageGb: 0, gpu: 0 },
    },
    {
      type: 'WorkerFlapping',
      workerId: 'a',
      at: AT,
      seq: 3,
      comebacks: 4,
      windowMs: 600_000,
      holdDownMs: 300_000,
    },
    { type: 'WorkerStabilized', workerId: 'a', at: AT, seq: 4, stableForMs: 300_000 },
    { type: 'WorkerCordoned', workerId: 'a', at: AT, seq: 5 },
    { type: 'WorkerUncordoned', workerId: 'a', at: AT, seq: 6 },
    { type: 'WorkerRemoved', workerId: 'a', at: AT, seq: 7 },
  ];
  for (const event of quiet) assert.is(alertOf(event, RAISED_AT), undefined, event.type);
});

test('an alert that is not one is reported, not thrown', () => {
  const garbage = decodeAlert(new TextEncoder().encode('{"alert":"worker-gone","summary":1}'));
  assert.is(garbage.ok, false);
  assert.is(decodeAlert(new TextEncoder().encode('not json')).ok, false);
});

test('cloudai alerts prints one line per alert: time of the change, kind, summary', () => {
  const alert = alertOf(cases[0]?.event as WorkerStreamEvent, RAISED_AT);
  assert.ok(alert);
  assert.is(
    renderAlert(alert, colors(false)),
    `2026-11-27T12:00:00.000Z  worker-inactive     ${alert.summary}`,
  );
});

test.run();
