import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { HEARTBEAT_PARTITION_MAPPING } from '../../streams/contracts/partitions.js';
import { NatsServer } from '../../streams/nats/nats-server.js';
import { findFreePort } from '../../streams/util/ports.js';
import type { BenchResources } from './resources.js';

const CLUSTER_NAME = 'cloudai-bench';
const JETSTREAM_READY_TIMEOUT_MS = 60_000;

/** Servers of one cluster started by a benchmark, each with its own store, on loopback. */
export interface BenchNatsCluster {
  servers: NatsServer[];
  /** Every server's client URL. */
  urls: string[];
}

/**
 * `size` nats-servers clustered on loopback (routes to each other, JetStream on each, the heartbeat
 * partition mapping of nats.conf), stopped when `resources` close; resolves once JetStream has
 * elected its meta leader and answers.
 */
export async function startBenchNatsCluster(
  resources: BenchResources,
  size: number,
): Promise<BenchNatsCluster> {
  // Routes name each other's ports, so these are chosen before any server starts.
  const routePorts: number[] = [];
  for (let index = 0; index < size; index++) routePorts.push(await findFreePort());
  const routes = routePorts.map((port) => `"nats-route://127.0.0.1:${port}"`).join(', ');
  const servers = await Promise.all(
    routePorts.map(async (routePort, index) => {
      const storeDir = resources.tempDir(`nats-${index + 1}`);
      const configFile = join(storeDir, 'cluster-member.conf');
      writeFileSync(configFile, memberConfig(`bench-nats-${index + 1}`, routePort, routes));
      const server = await NatsServer.start({
        storeDir,
        port: 0,
        configFile,
        onLogLine: (line) => {
          if (/slow consumer/i.test(line)) resources.slowConsumerLogLines++;
        },
      });
      resources.adoptProcess(server.process, `nats-server ${index + 1} pid ${server.pid}`, () =>
        server.stop(),
      );
      return server;
    }),
  );
  const urls = servers.map((server) => server.url);
  await waitForJetStream(urls);
  return { servers, urls };
}

function memberConfig(serverName: string, routePort: number, routes: string): string {
  return [
    `server_name: ${serverName}`,
    'max_payload: 1MB',
    `mappings { "${HEARTBEAT_PARTITION_MAPPING.from}": "${HEARTBEAT_PARTITION_MAPPING.to}" }`,
    'jetstream { store_dir: ".", max_memory_store: 256MB, max_file_store: 10GB }',
    `cluster { name: ${CLUSTER_NAME}, listen: "127.0.0.1:${routePort}", routes: [${routes}] }`,
    '',
  ].join('\n');
}

/** Until the servers have found each other and elected a meta leader, JetStream refuses every request. */
async function waitForJetStream(urls: string[]): Promise<void> {
  const nc = await connect({ servers: urls, name: 'cloudai-bench-cluster-check' });
  const deadline = Date.now() + JETSTREAM_READY_TIMEOUT_MS;
  let last = 'no answer yet';
  try {
    while (Date.now() < deadline) {
      try {
        const jsm = await jetstreamManager(nc, { timeout: 2_000 });
        await jsm.getAccountInfo();
        return;
      } catch (error) {
        last = (error as Error).message;
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    throw new Error(
      `the NATS cluster did not elect a JetStream leader within ${JETSTREAM_READY_TIMEOUT_MS} ms (${last})`,
    );
  } finally {
    await nc.close();
  }
}
