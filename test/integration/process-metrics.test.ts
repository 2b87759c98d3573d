import { connect } from '@nats-io/transport-node';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { AlertPublisher } from '../../control-plane/alert-publisher.js';
import { ControlPlaneMetrics } from '../../control-plane/control-plane-metrics.js';
import { NatsConnectionState } from '../../streams/nats/connection-state.js';
import { silentLogger } from '../../streams/util/logger.js';
import { makeTempDir, startTestNatsServer } from '../support/nats.js';

/** Seconds of CPU this process has used, as the kernel counts it. */
function cpuSeconds(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
}

test('process_cpu_seconds_total counts the CPU of the whole process, also what it used before the first scrape', async () => {
  const dir = makeTempDir('process-metrics');
  const server = await startTestNatsServer(dir.path);
  const nc = await connect({ servers: server.url });
  try {
    const metrics = new ControlPlaneMetrics({
      connection: new NatsConnectionState(nc),
      alerts: new AlertPublisher({ nc, logger: silentLogger }),
      processMetrics: true,
    });
    // Burn CPU between the start and the first scrape.
    const burnUntil = cpuSeconds() + 0.5;
    let spin = 0;
    while (cpuSeconds() < burnUntil) spin += Math.sqrt(spin + 1);
    assert.ok(spin > 0);

    const before = cpuSeconds();
    const text = await metrics.text();
    const after = cpuSeconds();
    const reported = Number(/^process_cpu_seconds_total (\S+)$/m.exec(text)?.[1]);
    assert.ok(
      reported >= before - 0.001 && reported <= after + 0.001,
      `reported ${reported} s, used ${before}–${after} s`,
    );
  } finally {
    await nc.close();
    await server.stop();
    dir.remove();
  }
});

test.run();
