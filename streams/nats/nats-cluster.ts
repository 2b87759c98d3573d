import type { NatsConnection } from '@nats-io/transport-node';
import { findFreePort } from '../util/ports.js';
import { UserFacingError } from '../util/user-error.js';
import { connectToNats, type NatsCredentials } from './connection.js';
import { type ClusterMembership, NatsServer, type NatsServerOptions } from './nats-server.js';
import { CLUSTER_REPLICAS, replicasForRetrying } from './stream-replicas.js';

/** Servers of a cluster that keeps every stream when any one of them is lost. */
export const CLUSTER_SIZE = CLUSTER_REPLICAS;

const LOOPBACK = '127.0.0.1';

export interface LoopbackClusterOptions {
  /** One folder per server (its store, its copies of the configuration, its pid file); CLUSTER_SIZE of them. */
  serverDirs: readonly string[];
  /** Client ports, one per server; 0 or none: a free one. */
  clientPorts?: readonly number[];
  /** `auth.conf` of every server (the same users everywhere); default: no authorization. */
  authConf?: string;
  /** The servers' certificate and key: clients must then use TLS. */
  tls?: { cert: string; key: string };
  /** Receives every line each server logs, with its name. */
  onLogLine?: (serverName: string, line: string) => void;
  /** See `NatsServerOptions.ownProcessGroup`. */
  ownProcessGroup?: boolean;
}

/** How to reach the cluster as a client: the identity and CA its servers expect. */
export interface ClusterAccess {
  credentials?: NatsCredentials;
  tlsCaFile?: string;
}

/**
 * Three nats-servers clustered on loopback ports, each with nats-cluster.conf and its own store:
 * what `cloudai up --ha` runs to show the control plane outliving any one server.
 */
export class LoopbackNatsCluster {
  private constructor(
    readonly members: NatsServer[],
    private readonly memberOptions: NatsServerOptions[],
  ) {}

  static async start(options: LoopbackClusterOptions): Promise<LoopbackNatsCluster> {
    if (options.serverDirs.length !== CLUSTER_SIZE) {
      throw new Error(
        `a loopback cluster has ${CLUSTER_SIZE} servers, got ${options.serverDirs.length} folders`,
      );
    }
    // Routes name each other's ports, so these are chosen before any server starts.
    const clusterPorts: number[] = [];
    for (const _ of options.serverDirs) clusterPorts.push(await findFreePort(LOOPBACK));
    const routes = clusterPorts.map((port) => `nats-route://${LOOPBACK}:${port}`);
    const memberOptions = options.serverDirs.map((storeDir, index): NatsServerOptions => {
      const cluster: ClusterMembership = {
        serverName: `cloudai-nats-${index + 1}`,
        clusterListen: `${LOOPBACK}:${clusterPorts[index]}`,
        routes,
      };
      return {
        storeDir,
        host: LOOPBACK,
        port: options.clientPorts?.[index] ?? 0,
        authConf: options.authConf,
        tls: options.tls,
        cluster,
        ownProcessGroup: options.ownProcessGroup,
        onLogLine: options.onLogLine && ((line) => options.onLogLine?.(cluster.serverName, line)),
      };
    });
    const started = await Promise.allSettled(memberOptions.map((member) => NatsServer.start(member)));
    const members = started.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
    const failure = started.find((result) => result.status === 'rejected');
    if (failure) {
      await Promise.all(members.map((member) => member.stop()));
      throw failure.reason;
    }
    // A restarted member must come back where the others' routes and the clients look for it.
    memberOptions.forEach((member, index) => {
      member.port = members[index]?.port;
    });
    return new LoopbackNatsCluster(members, memberOptions);
  }

  /** Every server's client URL. */
  get urls(): string[] {
    return this.members.map((member) => member.url);
  }

  /** The value for NATS_URL: every server, comma-separated, so clients fail over between them. */
  get natsUrl(): string {
    return this.urls.join(',');
  }

  /** The name JetStream knows member `index` by (stream info lists replicas by it). */
  serverName(index: number): string {
    return this.memberOptions[index]?.cluster?.serverName ?? '';
  }

  /** Starts member `index` again, on its ports and its store, once it has exited (killed, stopped). */
  async restartMember(index: number): Promise<NatsServer> {
    const member = this.members[index];
    const options = this.memberOptions[index];
    if (!member || !options) throw new Error(`no cluster member ${index}`);
    if (!member.hasExited()) throw new Error(`cluster member ${index} (pid ${member.pid}) is still running`);
    const restarted = await NatsServer.start(options);
    this.members[index] = restarted;
    return restarted;
  }

  /**
   * Resolves once JetStream can place a stream on all three servers: the servers have found
   * each other and elected a meta leader. Streams created earlier would get one replica.
   */
  async waitForJetStream(access: ClusterAccess = {}, timeoutMs = 30_000): Promise<void> {
    const nc = await connectToNats({ url: this.natsUrl, name: 'cloudai-cluster-check', ...access });
    try {
      await waitForReplicas(nc, timeoutMs);
    } finally {
      await nc.close();
    }
  }

  /** Stops every running server (SIGTERM, then SIGKILL after `timeoutMs`). */
  async stop(timeoutMs = 5_000): Promise<void> {
    await Promise.all(this.members.map((member) => member.stop(timeoutMs)));
  }
}

const RETRY_MS = 100;

async function waitForReplicas(nc: NatsConnection, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer yet';
  while (Date.now() < deadline) {
    try {
      const replicas = await replicasForRetrying(nc);
      if (replicas >= CLUSTER_REPLICAS) return;
      last = `JetStream places ${replicas} replica`;
    } catch (error) {
      last = (error as Error).message;
    }
    await new Promise((resolveWait) => setTimeout(resolveWait, RETRY_MS));
  }
  throw new UserFacingError(
    `the NATS cluster did not form within ${timeoutMs} ms (${last}): see each server's nats-server.log`,
  );
}
