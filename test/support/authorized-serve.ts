import type { NatsConnection } from '@nats-io/transport-node';
import { connectToNats } from '../../streams/nats/connection.js';
import { readCredentialsFile } from '../../streams/nats/credentials.js';
import { type RunningCli, spawnCli, waitUntilServing } from './cli.js';
import { type AuthorizedServer, startAuthorizedServer } from './nats.js';

export interface AuthorizedServeOptions<W extends string> {
  /** Names the temporary data dir. */
  prefix: string;
  /** The workers that get credentials before the server starts. */
  workerIds: readonly W[];
  heartbeatTimeoutMs: number;
  heartbeatIntervalMs: number;
  /** Further settings for serve and the commands of the test. */
  env?: NodeJS.ProcessEnv;
}

export interface AuthorizedServe<W extends string> extends AuthorizedServer<W> {
  /** What a command needs to reach this installation: its server, data dir and timing. */
  env: NodeJS.ProcessEnv;
  serve: RunningCli;
  /** Connects with the credentials file at `path`; `stop` closes the connection. */
  connectAs: (path: string, name: string) => Promise<NatsConnection>;
  /** Kills serve, closes the connections, stops the server and removes the data dir. */
  stop: () => Promise<void>;
}

/**
 * An installation with authorization on (see `startAuthorizedServer`) and its `cloudai serve`,
 * resolved once serve takes heartbeats. A serve that exits instead fails the start.
 */
export async function startAuthorizedServe<W extends string>(
  options: AuthorizedServeOptions<W>,
): Promise<AuthorizedServe<W>> {
  const installation = await startAuthorizedServer(options.prefix, options.workerIds);
  const { server, dataDir } = installation;
  const env = {
    NATS_URL: server.url,
    CLOUDAI_DATA_DIR: dataDir.path,
    CLOUDAI_HEARTBEAT_TIMEOUT_MS: String(options.heartbeatTimeoutMs),
    CLOUDAI_HEARTBEAT_INTERVAL_MS: String(options.heartbeatIntervalMs),
    ...options.env,
  };
  const serve = spawnCli(['serve'], env);
  const connections: NatsConnection[] = [];
  const stop = async () => {
    serve.process.kill('SIGKILL');
    for (const nc of connections) await nc.close().catch(() => {});
    await server.stop();
    dataDir.remove();
  };
  try {
    await waitUntilServing(serve, 30_000);
  } catch (error) {
    await stop();
    throw error;
  }
  const connectAs = async (path: string, name: string) => {
    const nc = await connectToNats({ url: server.url, name, credentials: readCredentialsFile(path) });
    connections.push(nc);
    return nc;
  };
  return { ...installation, env, serve, connectAs, stop };
}
