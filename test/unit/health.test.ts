import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { HealthCheck } from '../../control-plane/health.js';
import type { StreamLag } from '../../control-plane/projector-lag.js';

/** The read model's lag behind WORKER_EVENTS, as a probe would measure it. */
function lagsOf(lag: number): StreamLag[] {
  return [{ stream: 'WORKER_EVENTS', lastSeq: 10_000, applied: 10_000 - lag, lag }];
}

function scripted(measurements: Array<StreamLag[] | Error>): {
  measure(): Promise<StreamLag[]>;
  calls: number;
} {
  const source = {
    calls: 0,
    measure: async () => {
      const next = measurements[source.calls++];
      if (next === undefined || next instanceof Error) throw next ?? new Error('no more measurements');
      return next;
    },
  };
  return source;
}

test('healthy: connected, and the read model within the allowed lag; it says what it leads', async () => {
  const check = new HealthCheck({ isConnected: true }, 100);
  const roles = { controlPlaneId: 'cp-a', partitions: [0, 2], scheduler: true };
  check.attach(scripted([lagsOf(100)]), () => roles);
  assert.equal(await check.check(), {
    ok: true,
    nats: 'connected',
    projector: { lag: 100, streams: lagsOf(100) },
    problems: [],
    roles,
  });
});

test('behind by more than the bound: unhealthy at first, healthy while the lag shrinks, unhealthy when it stalls', async () => {
  const check = new HealthCheck({ isConnected: true }, 100);
  check.attach(scripted([lagsOf(5_000), lagsOf(3_000), lagsOf(3_000), lagsOf(4_000), lagsOf(0)]));
  const first = await check.check();
  assert.is(first.ok, false);
  assert.equal(first.problems, ['the read model is 5000 events behind WORKER_EVENTS']);
  assert.is((await check.check()).ok, true, 'catching up');
  const stalled = await check.check();
  assert.is(stalled.ok, false);
  assert.equal(stalled.problems, [
    'the read model is 3000 events behind WORKER_EVENTS (3000 at the previous check): it is not catching up',
  ]);
  assert.is((await check.check()).ok, false, 'falling further behind');
  assert.is((await check.check()).ok, true, 'caught up');
});

test('not connected: unhealthy at once, without asking JetStream', async () => {
  const connection = { isConnected: false };
  const source = scripted([lagsOf(0)]);
  const check = new HealthCheck(connection);
  check.attach(source);
  const report = await check.check();
  assert.is(report.ok, false);
  assert.is(report.nats, 'disconnected');
  assert.is(report.projector, null);
  assert.match(report.problems[0] ?? '', /^not connected to NATS/);
  assert.is(source.calls, 0);
});

test('starting, or JetStream silent: unhealthy, and says why', async () => {
  const check = new HealthCheck({ isConnected: true });
  const starting = await check.check();
  assert.is(starting.ok, false);
  assert.match(starting.problems[0] ?? '', /^starting: the read model is catching up/);
  check.attach(scripted([new Error('JetStream did not answer within 2000 ms')]));
  const silent = await check.check();
  assert.is(silent.ok, false);
  assert.equal(silent.problems, [
    "cannot measure the read model's lag: JetStream did not answer within 2000 ms",
  ]);
});

test.run();
