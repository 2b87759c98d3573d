import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { zForPhi } from '../../actors/phi-accrual.js';
import { type Identity, renderAuthConf } from '../../streams/contracts/authorization.js';
import { CredentialStore, readCredentialsFile } from '../../streams/nats/credentials.js';
import { LoopbackNatsCluster } from '../../streams/nats/nats-cluster.js';
import { NatsServer, pidFilePath } from '../../streams/nats/nats-server.js';
import {
  createTlsFiles,
  defaultServerNames,
  hasTlsFiles,
  type TlsFiles,
  tlsFilesIn,
} from '../../streams/nats/tls.js';
import { stopChildProcess } from '../../streams/util/child-process.js';
import { findFreePort, isPortFree } from '../../streams/util/ports.js';
import { UserFacingError } from '../../streams/util/user-error.js';
import {
  type Config,
  ConfigError,
  type ConfigOverrides,
  credentialsDir,
  embeddedServerDir,
  flagOf,
  HA_MEMBERS,
  haControlPlaneDir,
  haServerDir,
  LIVENESS_FLAGS,
  resolveConfig,
  tlsDir,
  UP_DASHBOARD_PORT,
} from '../config.js';
import { EXIT_WITH_PARENT_ENV } from '../lifecycle.js';
import { removeRunningUp, writeRunningUp } from '../running-up.js';

export interface UpOptions {
  natsPort?: string;
  /** TLS on every NATS link, with the data dir's private CA. */
  tls?: boolean;
  /** Three clustered nats-servers and three control planes on this machine (docs/high-availability.md). */
  ha?: boolean;
}

/** The demo fleet `up` starts: distinct ids and capacities, so the table shows something to compare. */
const DEMO_WORKERS = [
  { id: 'tessa', cpu: 8, memory: 16, gpu: 1 },
  { id: 'kim', cpu: 4, memory: 8, gpu: 0 },
  { id: 'ravi', cpu: 16, memory: 64, gpu: 2 },
] as const;

const DEFAULT_NATS_PORT = 4222;

/** The nats-servers of an `up`: one, or the three of `--ha`. */
interface RunningNats {
  /** For NATS_URL: every server, comma-separated. */
  natsUrl: string;
  members: Array<{ name: string; server: NatsServer; dir: string; log: string }>;
  stop(): Promise<void>;
}

/** What `up` needs from its NATS side to start the rest. */
interface NatsStartSettings {
  dataDir: string;
  natsPort: string | undefined;
  authConf: string;
  tls: TlsFiles | undefined;
  say: (line: string) => void;
}

async function startOneServer(settings: NatsStartSettings): Promise<RunningNats> {
  const serverDir = embeddedServerDir(settings.dataDir);
  await stopLeftoverServer(serverDir, settings.say);
  const port = await choosePort(settings.natsPort, settings.say);
  mkdirSync(serverDir, { recursive: true });
  const log = join(serverDir, 'nats-server.log');
  const serverLog = createWriteStream(log, { flags: 'a' });
  const server = await NatsServer.start({
    storeDir: serverDir,
    port,
    authConf: settings.authConf,
    tls: settings.tls,
    ownProcessGroup: true,
    onLogLine: (line) => serverLog.write(`${line}\n`),
  });
  return {
    natsUrl: server.url,
    members: [{ name: 'nats-server', server, dir: serverDir, log }],
    stop: () => server.stop(),
  };
}

/** The three servers of `up --ha`, clustered on loopback, once JetStream places three replicas. */
async function startCluster(settings: NatsStartSettings, controlCredentials: string): Promise<RunningNats> {
  const dirs = HA_MEMBERS.map((n) => haServerDir(settings.dataDir, n));
  for (const dir of dirs) await stopLeftoverServer(dir, settings.say);
  const ports = await chooseClusterPorts(settings.natsPort, settings.say);
  const logs = new Map(
    dirs.map((dir, index) => {
      mkdirSync(dir, { recursive: true });
      return [`cloudai-nats-${index + 1}`, createWriteStream(join(dir, 'nats-server.log'), { flags: 'a' })];
    }),
  );
  const cluster = await LoopbackNatsCluster.start({
    serverDirs: dirs,
    clientPorts: ports,
    authConf: settings.authConf,
    tls: settings.tls,
    ownProcessGroup: true,
    onLogLine: (serverName, line) => logs.get(serverName)?.write(`${line}\n`),
  });
  try {
    await cluster.waitForJetStream({
      credentials: readCredentialsFile(controlCredentials),
      tlsCaFile: settings.tls?.ca,
    });
  } catch (error) {
    await cluster.stop();
    throw error;
  }
  return {
    natsUrl: cluster.natsUrl,
    members: cluster.members.map((server, index) => ({
      name: `nats-server ${index + 1}`,
      server,
      dir: dirs[index] as string,
      log: join(dirs[index] as string, 'nats-server.log'),
    })),
    // A server the user restarted by hand (as `up` suggests) is stopped as well.
    stop: async () => {
      await cluster.stop();
      for (const dir of dirs) await stopLeftoverServer(dir, () => {});
    },
  };
}

interface Child {
  name: string;
  process: ChildProcess;
  exited: Promise<void>;
}

/** The data dir's CA and server certificate, made on the first `up --tls`. */
function tlsFor(dataDir: string, say: (line: string) => void): TlsFiles {
  const dir = tlsDir(dataDir);
  if (hasTlsFiles(dir)) return tlsFilesIn(dir);
  const files = createTlsFiles(dir, defaultServerNames());
  say(
    `created a private CA and the server's certificate in ${dir} (\`cloudai credentials tls\` remakes the certificate)`,
  );
  return files;
}

/**
 * `cloudai up`: nats-server (with nats.conf, store under the data dir), the control plane and
 * three workers, each a child process; Ctrl-C stops them all, workers first and the server last.
 * `--ha`: three clustered servers (nats-cluster.conf) and three control planes instead.
 */
export async function upCommand(options: UpOptions, overrides: ConfigOverrides): Promise<void> {
  // `up` starts the installation the other commands join: it takes nothing from an earlier one.
  const config = resolveConfig(overrides, process.env, { joinRunningUp: false });
  const dataDir = resolve(config.dataDir);
  const say = (line: string) => process.stdout.write(`${line}\n`);

  // Authorization is on: every process gets an identity of its own, created once and kept.
  const store = new CredentialStore(credentialsDir(dataDir));
  const credentialsOf = (identity: Identity) => store.ensure(identity).path;
  const controlCredentials = credentialsOf({ role: 'control-plane' });
  credentialsOf({ role: 'cli' });
  const workerCredentials = DEMO_WORKERS.map((worker) =>
    credentialsOf({ role: 'worker', workerId: worker.id }),
  );
  const tls = options.tls ? tlsFor(dataDir, say) : undefined;
  const natsSettings = {
    dataDir,
    natsPort: options.natsPort,
    authConf: renderAuthConf(store.authUsers()),
    tls,
    say,
  };
  const nats = options.ha
    ? await startCluster(natsSettings, controlCredentials)
    : await startOneServer(natsSettings);
  const { natsUrl } = nats;
  // Commands run on this data dir without NATS_URL find these servers and their heartbeat timing.
  writeRunningUp(dataDir, {
    pid: process.pid,
    natsUrl,
    tlsCa: tls?.ca ?? '',
    heartbeatIntervalMs: config.heartbeatIntervalMs,
    heartbeatTimeoutMs: config.heartbeatTimeoutMs,
  });
  const children: Child[] = [];
  const isServe = (child: Child) => child.name.startsWith('serve');
  let stopping = false;

  const stopEverything = async () => {
    stopping = true;
    say(
      `\nstopping workers, ${options.ha ? 'control planes and nats-servers' : 'control plane and nats-server'}…`,
    );
    // Workers first (each announces its leave while the control plane still listens), then the
    // control plane, which publishes what it still holds while the server is up, then the server.
    await Promise.all(children.filter((child) => !isServe(child)).map((child) => stopChild(child, 2_000)));
    await Promise.all(children.filter(isServe).map((child) => stopChild(child, 5_000)));
    await nats.stop();
    removeRunningUp(dataDir, process.pid);
    say('all stopped');
  };
  const stopAll = async (exitCode: number) => {
    if (stopping) return;
    await stopEverything();
    process.exit(exitCode);
  };
  process.on('SIGINT', () => void stopAll(0));
  process.on('SIGTERM', () => void stopAll(0));
  for (const { name, server, dir } of nats.members) {
    server.process.once('exit', (code, signal) => {
      if (stopping) return;
      const how = signal ?? `code ${code}`;
      if (!options.ha) {
        say(`nats-server exited unexpectedly (${how}); stopping everything`);
        void stopAll(1);
        return;
      }
      say(
        `${name} (pid ${server.pid}) exited (${how}): clients moved to the other two servers, which hold ` +
          `every stream. To bring it back: cd ${dir} && ${server.process.spawnfile} -c nats-cluster.conf -a ${server.host} -p ${server.port}`,
      );
    });
  }

  const controlPlanes = options.ha ? HA_MEMBERS.length : 1;
  const dashboardPorts = await chooseDashboardPorts(config.httpPort, controlPlanes, say);
  // The children inherit the environment: a token given as a flag reaches `serve` that way.
  if (config.httpToken) process.env.CLOUDAI_HTTP_TOKEN = config.httpToken;
  const natsFlags = [
    '--nats-url',
    natsUrl,
    '--heartbeat-interval-ms',
    String(config.heartbeatIntervalMs),
    ...(tls ? ['--tls-ca', tls.ca] : []),
  ];
  // Each control plane of --ha keeps its own read model, and listens on ports of its own.
  const serveFlags = (index: number) => [
    ...natsFlags,
    '--data-dir',
    options.ha ? haControlPlaneDir(dataDir, index + 1) : dataDir,
    '--heartbeat-timeout-ms',
    String(config.heartbeatTimeoutMs),
    ...(config.metricsPort > 0
      ? ['--metrics-port', String(config.metricsPort + index), '--metrics-host', config.metricsHost]
      : []),
    ...(config.alertWebhook ? ['--alert-webhook', config.alertWebhook] : []),
    ...(config.allowHostTasks ? ['--allow-host-tasks'] : []),
    // The token goes by the environment the children inherit, never on a command line.
    ...['--http-port', String(dashboardPorts[index]), '--http-host', config.httpHost],
    ...LIVENESS_FLAGS.flatMap(([key]) => [flagOf(key), String(config[key])]),
  ];
  const start = (name: string, args: string[]) => {
    const child = startChild(name, args);
    children.push(child);
    child.process.once('exit', (code, signal) => {
      if (!stopping) say(`${name} (pid ${child.process.pid}) exited (${signal ?? `code ${code}`})`);
    });
    return child;
  };
  // One after the other: each start creates replicated consumers (and the first, the streams)
  // through the cluster's one meta leader, and three at once can outlast a JetStream API timeout.
  const serves: Child[] = [];
  try {
    for (let index = 0; index < controlPlanes; index++) {
      const serve = start(options.ha ? `serve ${index + 1}` : 'serve', [
        'serve',
        ...serveFlags(index),
        '--credentials',
        controlCredentials,
      ]);
      serves.push(serve);
      await waitUntilReady(serve, SERVE_READY_TIMEOUT_MS);
    }
  } catch (error) {
    await stopEverything();
    throw error;
  }
  const workers = DEMO_WORKERS.map((worker) =>
    start(`worker ${worker.id}`, [
      'worker',
      '--id',
      worker.id,
      '--cpu',
      String(worker.cpu),
      '--memory',
      String(worker.memory),
      '--gpu',
      String(worker.gpu),
      '--address',
      `127.0.0.1:${50052 + DEMO_WORKERS.indexOf(worker)}`,
      '--credentials',
      workerCredentials[DEMO_WORKERS.indexOf(worker)] as string,
      ...natsFlags,
    ]),
  );

  const cli = cliInvocation();
  const dataDirFlag = resolve(DEFAULT_DATA_DIR) === dataDir ? '' : ` --data-dir ${dataDir}`;
  say('');
  say(`cloudai up: running (data dir ${dataDir})`);
  for (const { name, server, log } of nats.members) {
    const monitoring = server.monitorUrl ? `, monitoring ${server.monitorUrl}/jsz?streams=true` : '';
    say(`  ${name.padEnd(14)} pid ${server.pid}  ${server.url}  (log ${log}${monitoring})`);
  }
  const dashboardHost = config.httpHost.includes(':') ? `[${config.httpHost}]` : config.httpHost;
  for (const [index, serve] of serves.entries()) {
    say(
      `  ${serve.name.padEnd(14)} pid ${serve.process.pid}  heartbeat timeout ${config.heartbeatTimeoutMs} ms` +
        (options.ha ? `, data dir ${haControlPlaneDir(dataDir, index + 1)}` : ''),
    );
    if (config.metricsPort > 0) {
      say(`                 metrics and health on port ${config.metricsPort + index} (/metrics, /healthz)`);
    }
    say(
      `  dashboard      http://${dashboardHost === '0.0.0.0' ? '127.0.0.1' : dashboardHost}:${dashboardPorts[index]}/  (${config.httpToken ? 'actions need the token' : 'read-only: CLOUDAI_HTTP_TOKEN allows actions'})`,
    );
  }
  if (config.alertWebhook) say(`                 alerts POSTed to ${new URL(config.alertWebhook).origin}`);
  for (const [index, worker] of DEMO_WORKERS.entries()) {
    const spec = `cpu ${worker.cpu}, memory ${worker.memory} GB, gpu ${worker.gpu}`;
    say(`  worker ${worker.id.padEnd(7)} pid ${workers[index]?.process.pid}  ${spec}`);
  }
  say(
    '  tasks with --command run in their image when podman or docker answers (each worker logs its runtime), ' +
      (config.allowHostTasks
        ? 'else with sh -c on this host (--allow-host-tasks)'
        : 'else they wait: --allow-host-tasks runs them with sh -c on this host'),
  );
  say('');
  say('Next, in another terminal in this folder:');
  if (options.ha) {
    say(
      `  ${cli} workers --watch --data-dir ${haControlPlaneDir(dataDir, 1)}    # control plane 1's read model; cp-2 and cp-3 hold the same`,
    );
    say(
      `  kill -9 ${serves[0]?.process.pid}    # crash control plane 1: once its leases expire (${seconds(config.leaseTtlMs)}) the other two take over its workers and, if it had it, the scheduling`,
    );
    say(
      `  kill -9 ${nats.members[1]?.server.pid}    # crash nats-server 2: everyone moves to the other two, which hold every stream`,
    );
  } else {
    say(`  ${cli} workers --watch${dataDirFlag}    # the worker table, redrawn every second`);
  }
  say(
    `  kill ${workers[0]?.process.pid}    # stop worker tessa: it leaves at once, shown as left; its tasks move`,
  );
  say(`  kill -9 ${workers[0]?.process.pid}    # crash worker tessa instead: ${whatStoppingDoes(config)}`);
  say(
    `  ${cli} credentials worker --id extra${dataDirFlag}    # authorization is on: a new worker needs an identity`,
  );
  say(
    `  ${cli} worker --id extra --cpu 2 --memory 4${dataDirFlag}    # then add it: it finds this server and beats every ${config.heartbeatIntervalMs} ms`,
  );
  say(
    `  ${cli} task submit --image IMAGE --command 'echo hi'${dataDirFlag}    # then: task logs ID (docs/runtimes.md: a demo image)`,
  );
  if (tls) {
    say(`TLS is on: commands on this data dir trust the private CA ${tls.ca}; elsewhere pass --tls-ca.`);
  }
  say(`Credentials (owner-only) are in ${store.dir}.`);
  say('Ctrl-C here stops everything.');
  say('');
}

const DEFAULT_DATA_DIR = './.cloudai';

/**
 * What the hint promises for a stopped worker, as an upper bound that holds for a steady one:
 * in its first beats the fixed grace decides, later φ, whose silence for a worker beating like
 * clockwork is the interval plus z(threshold) times the floor of σ. Past the timeout it is inactive.
 */
export function whatStoppingDoes(config: Config): string {
  const steadyPhiMs = config.heartbeatIntervalMs + zForPhi(config.phiThreshold) * config.phiMinStdDevMs;
  const suspectWithinMs = Math.max(config.suspectAfterMs, steadyPhiMs);
  const inactive = `inactive ${seconds(config.heartbeatTimeoutMs)} after its last heartbeat`;
  if (suspectWithinMs >= config.heartbeatTimeoutMs) {
    return `${inactive} (φ, with these settings, would not suspect it sooner)`;
  }
  return (
    `suspect within ${seconds(suspectWithinMs)} of silence (${seconds(config.suspectAfterMs)} in its first ` +
    `${config.phiMinSamples} beats, then when φ reaches ${config.phiThreshold}), ${inactive}`
  );
}

/** Seconds, rounded up to a tenth: a bound must not shrink when shown. */
function seconds(ms: number): string {
  return `${Math.ceil(ms / 100) / 10} s`;
}

/**
 * The children of `up` exit when it dies, however it died (their stdin closes); nats-server
 * cannot watch for that. If an earlier `up` was killed outright, its server still holds this
 * data dir's store: stop it before starting ours.
 */
async function stopLeftoverServer(serverDir: string, say: (line: string) => void): Promise<void> {
  const pidFile = pidFilePath(serverDir);
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, 'utf8').trim());
  if (!Number.isInteger(pid) || pid <= 0 || !isNatsServer(pid)) return;
  say(`stopping nats-server pid ${pid}, left running on this data dir by an earlier cloudai up`);
  process.kill(pid, 'SIGTERM');
  for (let waited = 0; waited < 5_000 && isNatsServer(pid); waited += 50) {
    await sleep(50);
  }
  if (isNatsServer(pid)) process.kill(pid, 'SIGKILL');
}

/** Whether `pid` is a live nats-server (and not another process that reused the pid). */
function isNatsServer(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'nats-server';
  } catch {
    return false;
  }
}

async function choosePort(requested: string | undefined, say: (line: string) => void): Promise<number> {
  if (requested !== undefined) {
    const port = Number(requested);
    if (!Number.isInteger(port) || port < 0 || port > 65_535) {
      throw new ConfigError(
        `--nats-port ${JSON.stringify(requested)} is not a port number (0–65535; 0 picks a free one)`,
      );
    }
    return port;
  }
  if (await isPortFree(DEFAULT_NATS_PORT)) return DEFAULT_NATS_PORT;
  say(
    `port ${DEFAULT_NATS_PORT} is taken (another NATS server?): using a free port instead; --nats-port N picks one`,
  );
  return 0;
}

/**
 * The dashboard's port of each control plane: the one given and the next ones, else 8080 (and
 * on) when free, else ones the system says are free.
 */
async function chooseDashboardPorts(
  requested: number,
  count: number,
  say: (line: string) => void,
): Promise<number[]> {
  const consecutive = (first: number) => Array.from({ length: count }, (_, index) => first + index);
  if (requested > 0) return consecutive(requested);
  const preferred = consecutive(UP_DASHBOARD_PORT);
  if ((await Promise.all(preferred.map((port) => isPortFree(port)))).every(Boolean)) return preferred;
  say(
    `port ${UP_DASHBOARD_PORT}${count > 1 ? ` (or one of the next ${count - 1})` : ''} is taken: the dashboard uses a free port instead; --http-port N picks one`,
  );
  const ports: number[] = [];
  for (let index = 0; index < count; index++) ports.push(await findFreePort());
  return ports;
}

/** The client ports of the three servers of --ha: `--nats-port N` and the next two, else 4222–4224 when free, else free ones. */
async function chooseClusterPorts(
  requested: string | undefined,
  say: (line: string) => void,
): Promise<number[]> {
  const consecutive = (first: number) => HA_MEMBERS.map((_, index) => (first === 0 ? 0 : first + index));
  if (requested !== undefined) {
    const port = Number(requested);
    if (!Number.isInteger(port) || port < 0 || port > 65_535 - (HA_MEMBERS.length - 1)) {
      throw new ConfigError(
        `--nats-port ${JSON.stringify(requested)} is not the first of ${HA_MEMBERS.length} port numbers ` +
          `(0–${65_535 - (HA_MEMBERS.length - 1)}; 0 picks free ones)`,
      );
    }
    return consecutive(port);
  }
  const preferred = consecutive(DEFAULT_NATS_PORT);
  if ((await Promise.all(preferred.map((port) => isPortFree(port)))).every(Boolean)) return preferred;
  say(
    `ports ${preferred.join(', ')} are not all free (another NATS server?): using free ports instead; --nats-port N picks N and the next two`,
  );
  return consecutive(0);
}

const SERVE_READY_TIMEOUT_MS = 30_000;

/** Resolves when the child reports `ready` over IPC; rejects if it exits first or takes too long. */
function waitUntilReady(child: Child, timeoutMs: number): Promise<void> {
  return new Promise((resolveReady, reject) => {
    const timer = setTimeout(
      () => reject(new UserFacingError(`${child.name} did not start within ${timeoutMs} ms`)),
      timeoutMs,
    );
    child.process.on('message', (message: { type?: string }) => {
      if (message?.type !== 'ready') return;
      clearTimeout(timer);
      resolveReady();
    });
    void child.exited.then(() => {
      clearTimeout(timer);
      reject(new UserFacingError(`${child.name} exited during start-up; its error is above`));
    });
  });
}

function startChild(name: string, args: string[]): Child {
  // Own process group: a terminal's Ctrl-C reaches only `up`, which then stops the children in order.
  // The stdin pipe tells them when `up` is gone, however it died.
  const child = spawn(process.execPath, [process.argv[1] as string, ...args], {
    stdio: ['pipe', 'inherit', 'inherit', 'ipc'],
    detached: true,
    env: { ...process.env, [EXIT_WITH_PARENT_ENV]: '1' },
  });
  const exited = new Promise<void>((resolveExit) => child.once('exit', () => resolveExit()));
  return { name, process: child, exited };
}

function stopChild(child: Child, graceMs: number): Promise<void> {
  return stopChildProcess(child.process, child.exited, graceMs);
}

/** How the user can run this same CLI from the current folder. */
function cliInvocation(): string {
  const script = process.argv[1] ?? 'dist/cli/main.js';
  if (script.endsWith('/cloudai')) return 'cloudai';
  return `node ${relative(process.cwd(), script) || script}`;
}
