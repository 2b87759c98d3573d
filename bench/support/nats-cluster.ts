import { LoopbackNatsCluster } from '../../streams/nats/nats-cluster.js';
import type { BenchResources } from './resources.js';

/** Until the servers have found each other and elected a meta leader, JetStream refuses every request. */
const JETSTREAM_READY_TIMEOUT_MS = 60_000;

/**
 * The loopback cluster of `cloudai up --ha` (nats-cluster.conf, a store each), stopped when
 * `resources` close, with the servers' slow-consumer lines counted; resolves once JetStream
 * places three replicas.
 */
export async function startBenchNatsCluster(resources: BenchResources): Promise<LoopbackNatsCluster> {
  const cluster = await LoopbackNatsCluster.start({
    serverDirs: [1, 2, 3].map((n) => resources.tempDir(`nats-${n}`)),
    onLogLine: (_server, line) => {
      if (/slow consumer/i.test(line)) resources.slowConsumerLogLines++;
    },
  });
  for (const [index, server] of cluster.members.entries()) {
    resources.adoptProcess(server.process, `nats-server ${index + 1} pid ${server.pid}`, () => server.stop());
  }
  await cluster.waitForJetStream({}, JETSTREAM_READY_TIMEOUT_MS);
  return cluster;
}
