import { setTimeout as sleep } from 'node:timers/promises';
import type { NatsConnection } from '@nats-io/transport-node';
import { CONFIG_ENV, type Config, type ConfigOverrides, resolveConfig } from '../../cli/config.js';
import { ControlPlane } from '../../control-plane/control-plane.js';
import { ReadModel } from '../../projections/read-model.js';
import type { WorkerDocument } from '../../projections/worker-document.js';
import { connectToNats } from '../../streams/nats/connection.js';
import type { NatsServer } from '../../streams/nats/nats-server.js';
import { type Logger, silentLogger } from '../../streams/util/logger.js';
import { HeartbeatPublisher } from '../../worker/heartbeat-publisher.js';
import { type RunningCli, spawnCli, waitUntilServing } from './cli.js';
import { makeTempDir, startTestNatsServer } from './nats.js';
import { TcpProxy } from './tcp-proxy.js';

export interface ClusterOptions {
  heartbeatTimeoutMs: number;
  heartbeatIntervalMs: number;
  /**
   * Liveness settings beyond the timeout (see `livenessDefaults`); tests of suspicion, flap
   * damping or disruption mode set their own.
   */
  liveness?: ConfigOverrides;
}

/**
 * At test scale (timeouts of a second or less), φ and a grace period of 2 × the interval
 * would turn a loaded machine's pauses into suspicions. Unless a test says otherwise, a worker
 * is suspect after half the timeout, a fixed grace (φ never takes over), so a dying worker
 * always shows Suspected then Inactive, and a false suspicion needs as long a pause as a
 * false inactive would.
 */
function livenessDefaults(options: ClusterOptions): ConfigOverrides {
  return {
    suspectAfterMs: Math.floor(options.heartbeatTimeoutMs / 2),
    phiMinSamples: 1_000_000,
    ...options.liveness,
  };
}

/** The same settings as environment variables for `cloudai serve`. */
function livenessEnv(options: ClusterOptions): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(livenessDefaults(options))) {
    const name = CONFIG_ENV[key as keyof Config];
    if (!name) throw new Error(`setting ${key} has no environment variable`);
    if (value !== undefined) env[name] = String(value);
  }
  return env;
}

/**
 * A nats-server of the test's own plus a data dir, and the environment that points the
 * real CLI at them. Fault tests kill and restart its parts.
 */
export class TestCluster {
  private readModelView?: ReadModel;
  private readonly processes: RunningCli[] = [];
  private readonly connections: NatsConnection[] = [];
  private readonly publishers: HeartbeatPublisher[] = [];
  private readonly proxies: TcpProxy[] = [];

  private constructor(
    public server: NatsServer,
    readonly storeDir: ReturnType<typeof makeTempDir>,
    readonly dataDir: ReturnType<typeof makeTempDir>,
    readonly options: ClusterOptions,
  ) {}

  static async start(options: ClusterOptions): Promise<TestCluster> {
    const storeDir = makeTempDir('nats');
    const dataDir = makeTempDir('data');
    const server = await startTestNatsServer(storeDir.path);
    return new TestCluster(server, storeDir, dataDir, options);
  }

  env(natsUrl = this.server.url): NodeJS.ProcessEnv {
    return {
      NATS_URL: natsUrl,
      CLOUDAI_DATA_DIR: this.dataDir.path,
      CLOUDAI_HEARTBEAT_TIMEOUT_MS: String(this.options.heartbeatTimeoutMs),
      CLOUDAI_HEARTBEAT_INTERVAL_MS: String(this.options.heartbeatIntervalMs),
      ...livenessEnv(this.options),
    };
  }

  /** Starts `cloudai serve` and resolves once it takes heartbeats. */
  async startServe(
    natsUrl = this.server.url,
    extraEnv: NodeJS.ProcessEnv = {},
  ): Promise<RunningCli & { readyAt: number }> {
    const serve = spawnCli(['serve'], { ...this.env(natsUrl), ...extraEnv });
    this.processes.push(serve);
    await waitUntilServing(serve, 60_000);
    return Object.assign(serve, { readyAt: Date.now() });
  }

  /**
   * The control plane in this process, for tests that read its counters or restart it cleanly;
   * fault tests kill real `cloudai serve` processes instead.
   */
  startControlPlane(overrides: ConfigOverrides = {}, logger: Logger = silentLogger): Promise<ControlPlane> {
    return ControlPlane.start({
      settings: resolveConfig(
        {
          natsUrl: this.server.url,
          dataDir: this.dataDir.path,
          heartbeatTimeoutMs: this.options.heartbeatTimeoutMs,
          heartbeatIntervalMs: this.options.heartbeatIntervalMs,
          ...livenessDefaults(this.options),
          ...overrides,
        },
        {},
      ),
      logger: () => logger,
    });
  }

  /** Starts `cloudai serve` without waiting for it: for tests that kill it during start-up. */
  spawnServeUnready(): RunningCli {
    const serve = spawnCli(['serve'], this.env());
    this.processes.push(serve);
    return serve;
  }

  /** Kills the server (SIGKILL) and starts a new one on the same port and store. */
  async restartServer(downForMs: number): Promise<void> {
    const { port } = this.server;
    await this.server.kill();
    await sleep(downForMs);
    this.server = await startTestNatsServer(this.storeDir.path, port);
  }

  async connect(name: string): Promise<NatsConnection> {
    const nc = await connectToNats({ url: this.server.url, name });
    this.connections.push(nc);
    return nc;
  }

  worker(nc: NatsConnection, workerId: string): HeartbeatPublisher {
    const publisher = new HeartbeatPublisher({
      nc,
      workerId,
      intervalMs: this.options.heartbeatIntervalMs,
      address: '127.0.0.1:50052',
      capacity: { cpu: 8, memoryGb: 16, storageGb: 100, gpu: 1 },
      usage: () => ({ cpu: 0.25, memory: 0.5, storage: 0.1, gpu: 0 }),
    });
    this.publishers.push(publisher);
    return publisher;
  }

  /** The read model as the CLI sees it: read-only, from this process. */
  readModel(): ReadModel {
    this.readModelView ??= ReadModel.open({ dataDir: this.dataDir.path, readOnly: true });
    return this.readModelView;
  }

  workers(): WorkerDocument[] {
    return this.readModel().snapshot((view) => view.listWorkers());
  }

  statusOf(workerId: string): string | undefined {
    return this.readModel().snapshot((view) => view.getWorker(workerId)?.status);
  }

  /** A proxy in front of this cluster's server, closed with the cluster: a connection the test can cut. */
  async startProxy(): Promise<TcpProxy> {
    const proxy = await TcpProxy.start(this.server.port);
    this.proxies.push(proxy);
    return proxy;
  }

  async close(): Promise<void> {
    for (const proxy of this.proxies) await proxy.close();
    for (const publisher of this.publishers) publisher.stop();
    for (const running of this.processes) running.process.kill('SIGKILL');
    for (const nc of this.connections) await nc.close().catch(() => {});
    await this.readModelView?.close();
    await this.server.stop();
    this.storeDir.remove();
    this.dataDir.remove();
  }
}

/** Runs `body` against a fresh cluster, and always cleans it up. */
export async function withTestCluster(
  options: ClusterOptions,
  body: (cluster: TestCluster) => Promise<void>,
): Promise<void> {
  const cluster = await TestCluster.start(options);
  try {
    await body(cluster);
  } finally {
    await cluster.close();
  }
}
