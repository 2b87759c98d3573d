import { type ChildProcess, spawn } from 'node:child_process';
import { accessSync, constants, copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { basename, delimiter, join, resolve as resolvePath } from 'node:path';
import { renderAuthConf } from '../contracts/authorization.js';
import { hasExited, stopChildProcess } from '../util/child-process.js';
import { defaultNatsClusterConfigPath, defaultNatsConfigPath } from '../util/project-root.js';
import { UserFacingError } from '../util/user-error.js';
import { renderTlsConf } from './tls.js';

export interface NatsServerOptions {
  /**
   * The server's own folder, created when missing: JetStream's store, and the copy of
   * nats.conf it runs with next to the `auth.conf` that copy includes.
   */
  storeDir: string;
  /** Content of `auth.conf` (see streams/contracts/authorization.ts); default: no users, so no authorization. */
  authConf?: string;
  /** The server's certificate and key: clients must then use TLS (see `connectToNats`). */
  tls?: { cert: string; key: string };
  /** Client port; 0 lets the server pick a free one (and we read it back from its log). */
  port?: number;
  host?: string;
  /** Default: nats.conf, or nats-cluster.conf for a cluster member. */
  configFile?: string;
  /** Run as one server of a cluster, with nats-cluster.conf and a `cluster-member.conf` written from this. */
  cluster?: ClusterMembership;
  /** Path of the binary; default: `NATS_SERVER_BIN`, then `nats-server` on PATH or in the sbin folders. */
  binary?: string;
  readyTimeoutMs?: number;
  /** Receives every line the server logs (it logs to stderr). */
  onLogLine?: (line: string) => void;
  /**
   * Run in a process group of its own: a terminal's Ctrl-C then reaches only the parent, which
   * stops the server after the processes that still publish through it.
   */
  ownProcessGroup?: boolean;
}

/** What differs between the servers of a cluster: the variables nats-cluster.conf reads from `cluster-member.conf`. */
export interface ClusterMembership {
  /** Unique in the cluster: JetStream names its peers by it. */
  serverName: string;
  /** Where the other servers' routes reach this one, `host:port`; port -1 lets the server pick one. */
  clusterListen: string;
  /** Every server's route URL (`nats-route://host:port`), this one's included: a server skips its own. */
  routes: readonly string[];
}

export class NatsServerNotFoundError extends UserFacingError {
  constructor() {
    super(
      'nats-server not found on PATH: install it with `apt-get install nats-server` (or from ' +
        'https://github.com/nats-io/nats-server/releases), set NATS_SERVER_BIN to its path, ' +
        'or point NATS_URL at a running server and use `cloudai serve`',
    );
    this.name = 'NatsServerNotFoundError';
  }
}

export class NatsServerStartError extends UserFacingError {
  constructor(
    message: string,
    readonly log: string[],
  ) {
    super(`${message}${log.length ? `\nlast lines of its log:\n  ${log.slice(-8).join('\n  ')}` : ''}`);
    this.name = 'NatsServerStartError';
  }
}

// Debian puts the binary in /usr/sbin, which is not on an ordinary user's PATH.
const EXTRA_SEARCH_DIRS = ['/usr/sbin', '/usr/local/sbin', '/usr/local/bin'];

export function findNatsServerBinary(): string {
  const override = process.env.NATS_SERVER_BIN;
  if (override) {
    if (isExecutable(override)) return override;
    throw new NatsServerNotFoundError();
  }
  const dirs = [...(process.env.PATH ?? '').split(delimiter), ...EXTRA_SEARCH_DIRS].filter(Boolean);
  for (const dir of dirs) {
    const candidate = join(dir, 'nats-server');
    if (isExecutable(candidate)) return candidate;
  }
  throw new NatsServerNotFoundError();
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

const LISTENING = /Listening for client connections on ([^\s:]+|\[[^\]]+\]):(\d+)/;
const MONITORING = /Starting http monitor on (\S+)/;
const READY = /Server is ready/;

/** A nats-server child process started by us. */
export class NatsServer {
  private exited: Promise<void>;

  private constructor(
    readonly process: ChildProcess,
    readonly host: string,
    readonly port: number,
    readonly storeDir: string,
    /** `http://host:port` of the monitoring endpoint, when the configuration has one. */
    readonly monitorUrl: string | undefined,
  ) {
    this.exited = new Promise((resolve) => {
      if (process.exitCode !== null || process.signalCode !== null) resolve();
      else process.once('exit', () => resolve());
    });
  }

  get url(): string {
    return `nats://${this.host}:${this.port}`;
  }

  get pid(): number {
    return this.process.pid ?? -1;
  }

  static async start(options: NatsServerOptions): Promise<NatsServer> {
    const binary = options.binary ?? findNatsServerBinary();
    const host = options.host ?? '127.0.0.1';
    mkdirSync(options.storeDir, { recursive: true });
    // nats.conf includes "auth.conf" relative to itself: run a copy that sits next to ours.
    const sourceConfig =
      options.configFile ?? (options.cluster ? defaultNatsClusterConfigPath() : defaultNatsConfigPath());
    const configFile = join(options.storeDir, basename(sourceConfig));
    copyFileSync(sourceConfig, configFile);
    if (options.cluster) {
      writeFileSync(
        clusterMemberConfPath(options.storeDir),
        renderClusterMemberConf(options.cluster, resolvePath(options.storeDir)),
      );
    }
    writeFileSync(authConfPath(options.storeDir), options.authConf ?? renderAuthConf([]), { mode: 0o600 });
    writeFileSync(join(options.storeDir, 'tls.conf'), renderTlsConf(options.tls));
    const args = [
      '-c',
      configFile,
      '-a',
      host,
      // -1 asks nats-server for a random free port; it reports the one it took.
      '-p',
      String(options.port && options.port > 0 ? options.port : -1),
    ];
    // nats.conf names its store and pid file relative to the working directory.
    const child = spawn(binary, args, {
      cwd: options.storeDir,
      stdio: ['ignore', 'ignore', 'pipe'],
      detached: options.ownProcessGroup === true,
    });
    const log: string[] = [];
    // One line splitter for the server's whole life: a line cut across two chunks is still one line.
    let handleLine: (line: string) => void = () => {};
    child.stderr?.setEncoding('utf8');
    child.stderr?.on(
      'data',
      splitLines((line) => handleLine(line)),
    );
    let monitorUrl: string | undefined;
    const port = await new Promise<number>((resolve, reject) => {
      let listeningPort: number | undefined;
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(
          new NatsServerStartError(
            `nats-server did not become ready within ${options.readyTimeoutMs ?? 10_000} ms`,
            log,
          ),
        );
      }, options.readyTimeoutMs ?? 10_000);
      handleLine = (line) => {
        log.push(line);
        if (log.length > 50) log.shift();
        options.onLogLine?.(line);
        const listening = LISTENING.exec(line);
        if (listening) listeningPort = Number(listening[2]);
        const monitoring = MONITORING.exec(line);
        if (monitoring) monitorUrl = `http://${monitoring[1]}`;
        if (READY.test(line) && listeningPort !== undefined) {
          clearTimeout(timer);
          resolve(listeningPort);
        }
      };
      child.once('error', (error) => {
        clearTimeout(timer);
        reject(new NatsServerStartError(`cannot start ${binary}: ${error.message}`, log));
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(
          new NatsServerStartError(`nats-server exited during start-up (${signal ?? `code ${code}`})`, log),
        );
      });
    });
    // stderr keeps being drained, so the server never blocks on a full pipe.
    handleLine = (line) => options.onLogLine?.(line);
    child.removeAllListeners('exit');
    return new NatsServer(child, host, port, options.storeDir, monitorUrl);
  }

  /** Asks the server to shut down (SIGTERM), and kills it if it has not exited within `timeoutMs`. */
  async stop(timeoutMs = 5_000): Promise<void> {
    await stopChildProcess(this.process, this.exited, timeoutMs);
  }

  /** Makes the server re-read its configuration (and so `auth.conf`), as SIGHUP does. */
  reload(): void {
    this.process.kill('SIGHUP');
  }

  /** SIGKILL, as a crash would: for fault-injection tests. */
  async kill(): Promise<void> {
    if (this.hasExited()) return;
    this.process.kill('SIGKILL');
    await this.exited;
  }

  hasExited(): boolean {
    return hasExited(this.process);
  }
}

/** Turns a stream of text chunks into whole lines. */
function splitLines(onLine: (line: string) => void): (chunk: string) => void {
  let buffered = '';
  return (chunk) => {
    buffered += chunk;
    let newline = buffered.indexOf('\n');
    while (newline >= 0) {
      onLine(buffered.slice(0, newline));
      buffered = buffered.slice(newline + 1);
      newline = buffered.indexOf('\n');
    }
  };
}

/**
 * The `cluster-member.conf` of one server: the variables nats-cluster.conf reads, with the
 * monitoring endpoint on loopback at a port the server picks. Values are quoted as JSON strings,
 * which the nats-server configuration syntax reads alike.
 */
function renderClusterMemberConf(member: ClusterMembership, storeDir: string): string {
  const quote = (value: string) => JSON.stringify(value);
  return [
    "# This server's part of the cluster (see nats-cluster.conf).",
    `MEMBER_NAME: ${quote(member.serverName)}`,
    `MEMBER_STORE_DIR: ${quote(storeDir)}`,
    `MEMBER_CLUSTER_LISTEN: ${quote(member.clusterListen)}`,
    `MEMBER_MONITOR_LISTEN: ${quote('127.0.0.1:-1')}`,
    `CLUSTER_ROUTES: [ ${member.routes.map(quote).join(', ')} ]`,
    '',
  ].join('\n');
}

function clusterMemberConfPath(storeDir: string): string {
  return join(storeDir, 'cluster-member.conf');
}

export function authConfPath(storeDir: string): string {
  return join(storeDir, 'auth.conf');
}

/** Where a running server started by us writes its pid (for `kill -HUP`). */
export function pidFilePath(storeDir: string): string {
  return join(storeDir, 'nats-server.pid');
}
