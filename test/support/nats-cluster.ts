import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { LoopbackNatsCluster } from '../../streams/nats/nats-cluster.js';
import type { NatsServer } from '../../streams/nats/nats-server.js';
import { killOnExit, makeTempDir, waitFor } from './nats.js';

/**
 * Three real nats-servers clustered on free loopback ports, each with its own temp store, for
 * tests that kill and restart one of them. Resolves once JetStream places three replicas.
 */
export class TestNatsCluster {
  private constructor(
    readonly cluster: LoopbackNatsCluster,
    private readonly baseDir: ReturnType<typeof makeTempDir>,
  ) {}

  static async start(prefix = 'nats-cluster'): Promise<TestNatsCluster> {
    const baseDir = makeTempDir(prefix);
    const cluster = await LoopbackNatsCluster.start({
      serverDirs: [1, 2, 3].map((n) => join(baseDir.path, `nats-${n}`)),
    });
    for (const member of cluster.members) killOnExit(member.process);
    await cluster.waitForJetStream();
    return new TestNatsCluster(cluster, baseDir);
  }

  get natsUrl(): string {
    return this.cluster.natsUrl;
  }

  get members(): readonly NatsServer[] {
    return this.cluster.members;
  }

  /** The member a connection is on right now. */
  memberOf(nc: NatsConnection): number {
    const index = this.members.findIndex((member) => member.port === nc.info?.port);
    if (index < 0) throw new Error(`connection is on port ${nc.info?.port}, no member of this cluster`);
    return index;
  }

  /** kill -9 of member `index`, as a crash of its machine would. */
  async kill(index: number): Promise<void> {
    await this.members[index]?.kill();
  }

  /** Starts member `index` again on its ports and store. */
  async restart(index: number): Promise<NatsServer> {
    const member = await this.cluster.restartMember(index);
    killOnExit(member.process);
    return member;
  }

  /**
   * Waits until `stream` has a leader and every other replica is current with no lag: a
   * restarted member has caught up. Returns the stream's replicas as JetStream reports them.
   */
  async waitForCurrentReplicas(
    nc: NatsConnection,
    stream: string,
    timeoutMs: number,
  ): Promise<{ leader: string; followers: string[] }> {
    let replicas = { leader: '', followers: [] as string[] };
    await waitFor(
      async () => {
        try {
          const jsm = await jetstreamManager(nc);
          const { cluster } = await jsm.streams.info(stream);
          const followers = cluster?.replicas ?? [];
          replicas = { leader: cluster?.leader ?? '', followers: followers.map((peer) => peer.name) };
          return (
            replicas.leader !== '' &&
            followers.length === this.members.length - 1 &&
            followers.every((peer) => peer.current && !peer.offline && (peer.lag ?? 0) === 0)
          );
        } catch {
          // An election under way: JetStream answers again within seconds.
          return false;
        }
      },
      timeoutMs,
      `every replica of ${stream} current`,
    );
    return replicas;
  }

  serverName(index: number): string {
    return this.cluster.serverName(index);
  }

  async close(): Promise<void> {
    await this.cluster.stop();
    this.baseDir.remove();
  }
}
