import { join } from 'node:path';
import { DEFAULT_MAX_HEARTBEAT_BYTES } from '../control-plane/heartbeat-intake.js';
import type { ControlPlaneSettings } from '../control-plane/settings.js';
import { isPolicyName, POLICY_NAMES } from '../scheduler/policies/policy.js';
import { ID_RULE, isValidWorkerId } from '../streams/contracts/subjects.js';
import { DEFAULT_NATS_URL } from '../streams/nats/connection.js';
import { UserFacingError } from '../streams/util/user-error.js';
import { DEFAULT_TASK_STOP_GRACE_MS } from '../worker/runtimes/runtime.js';
import { findRunningUp } from './running-up.js';

/** Settings shared by every command. Flags override environment variables, which override these defaults. */
export interface Config extends ControlPlaneSettings {
  /** How often `cloudai worker` sends a heartbeat. */
  heartbeatIntervalMs: number;
  /** How long `cloudai worker` simulates a task that has no command. */
  taskMs: number;
  /** NATS credentials file; empty: the command's own file in the data dir, if there is one. */
  credentials: string;
  /** CA certificate the NATS server's must be signed by: the connection then runs over TLS; empty: no TLS. */
  tlsCa: string;
  /** SIGTERM, then SIGKILL after this long, when `cloudai worker` stops a task. */
  taskStopGraceMs: number;
  /** Where `cloudai worker` runs tasks: podman, docker, process, or auto (the first that answers). */
  runtime: string;
}

export const DEFAULT_CONFIG: Config = {
  natsUrl: DEFAULT_NATS_URL,
  dataDir: './.cloudai',
  heartbeatTimeoutMs: 30_000,
  heartbeatIntervalMs: 5_000,
  maxHeartbeatBytes: DEFAULT_MAX_HEARTBEAT_BYTES,
  policy: 'rts',
  rtsParams: '',
  assignTimeoutMs: 2_000,
  assignRetryAfterMs: 30_000,
  queueBypassLimit: 5,
  requestTimeoutMs: 10_000,
  taskMs: 10_000,
  maxWorkers: 200_000,
  credentials: '',
  tlsCa: '',
  phiThreshold: 8,
  suspectAfterMs: 10_000,
  phiWindowSize: 100,
  phiMinSamples: 10,
  phiMinStdDevMs: 500,
  flapThreshold: 3,
  flapWindowMs: 10 * 60_000,
  flapHoldDownMs: 5 * 60_000,
  disruptionThresholdPercent: 55,
  disruptionMinWorkers: 2,
  metricsPort: 0,
  metricsHost: '0.0.0.0',
  alertWebhook: '',
  allowHostTasks: false,
  taskLogsMaxBytes: 1024 * 1024 * 1024,
  taskStopGraceMs: DEFAULT_TASK_STOP_GRACE_MS,
  runtime: 'auto',
  httpPort: 0,
  httpHost: '127.0.0.1',
  httpToken: '',
  leaseTtlMs: 10_000,
};

/** The dashboard port `cloudai up` takes when none is given and it is free (else any free one). */
export const UP_DASHBOARD_PORT = 8080;

/** Settings that may be fractions; every other number is a positive whole number. */
const FRACTIONAL: ReadonlySet<keyof Config> = new Set(['phiThreshold', 'disruptionThresholdPercent']);
/** Settings where 0 means "off". */
const ZERO_MEANS_OFF: ReadonlySet<keyof Config> = new Set(['metricsPort', 'httpPort']);

/** Environment variable of each setting that has one. */
export const CONFIG_ENV: Partial<Record<keyof Config, string>> = {
  natsUrl: 'NATS_URL',
  dataDir: 'CLOUDAI_DATA_DIR',
  heartbeatTimeoutMs: 'CLOUDAI_HEARTBEAT_TIMEOUT_MS',
  heartbeatIntervalMs: 'CLOUDAI_HEARTBEAT_INTERVAL_MS',
  policy: 'CLOUDAI_POLICY',
  rtsParams: 'CLOUDAI_RTS_PARAMS',
  assignTimeoutMs: 'CLOUDAI_ASSIGN_TIMEOUT_MS',
  taskMs: 'CLOUDAI_TASK_MS',
  maxWorkers: 'CLOUDAI_MAX_WORKERS',
  credentials: 'CLOUDAI_CREDENTIALS',
  tlsCa: 'CLOUDAI_TLS_CA',
  phiThreshold: 'CLOUDAI_PHI_THRESHOLD',
  suspectAfterMs: 'CLOUDAI_SUSPECT_AFTER_MS',
  phiWindowSize: 'CLOUDAI_PHI_WINDOW_SIZE',
  phiMinSamples: 'CLOUDAI_PHI_MIN_SAMPLES',
  phiMinStdDevMs: 'CLOUDAI_PHI_MIN_STD_DEV_MS',
  flapThreshold: 'CLOUDAI_FLAP_THRESHOLD',
  flapWindowMs: 'CLOUDAI_FLAP_WINDOW_MS',
  flapHoldDownMs: 'CLOUDAI_FLAP_HOLD_DOWN_MS',
  disruptionThresholdPercent: 'CLOUDAI_DISRUPTION_THRESHOLD_PERCENT',
  disruptionMinWorkers: 'CLOUDAI_DISRUPTION_MIN_WORKERS',
  metricsPort: 'CLOUDAI_METRICS_PORT',
  metricsHost: 'CLOUDAI_METRICS_HOST',
  alertWebhook: 'CLOUDAI_ALERT_WEBHOOK',
  allowHostTasks: 'CLOUDAI_ALLOW_HOST_TASKS',
  taskLogsMaxBytes: 'CLOUDAI_TASK_LOGS_MAX_BYTES',
  taskStopGraceMs: 'CLOUDAI_TASK_STOP_GRACE_MS',
  runtime: 'CLOUDAI_RUNTIME',
  httpPort: 'CLOUDAI_HTTP_PORT',
  httpHost: 'CLOUDAI_HTTP_HOST',
  httpToken: 'CLOUDAI_HTTP_TOKEN',
  leaseTtlMs: 'CLOUDAI_LEASE_TTL_MS',
};

/** Where `cloudai up` keeps the embedded nats-server's store, config copy and pid file. */
export function embeddedServerDir(dataDir: string): string {
  return join(dataDir, 'nats');
}

/** The numbers of the servers, and of the control planes, of `cloudai up --ha`. */
export const HA_MEMBERS: readonly number[] = [1, 2, 3];

/** Where `cloudai up --ha` keeps the store, config copies and pid file of its cluster's server `n` (1–3). */
export function haServerDir(dataDir: string, n: number): string {
  return join(dataDir, `nats-${n}`);
}

/** The data dir (read model) of the control plane `n` (1–3) of `cloudai up --ha`. */
export function haControlPlaneDir(dataDir: string, n: number): string {
  return join(dataDir, `cp-${n}`);
}

/** Where `cloudai credentials tls` keeps the private CA and the server's certificate. */
export function tlsDir(dataDir: string): string {
  return join(dataDir, 'tls');
}

/** Where the identities of an installation live (owner-only). */
export function credentialsDir(dataDir: string): string {
  return join(dataDir, 'credentials');
}

/** Refuses a `--id` that is no worker id, quoting it. */
export function checkWorkerIdFlag(workerId: string): void {
  if (!isValidWorkerId(workerId)) {
    throw new ConfigError(`--id ${JSON.stringify(workerId)} is not a valid worker id: use ${ID_RULE}`);
  }
}

export class ConfigError extends UserFacingError {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** Settings given as flags: values, or the strings a command line holds (`resolveConfig` parses and checks both). */
export type ConfigOverrides = { [K in keyof Config]?: Config[K] | string | undefined };

/**
 * The settings of a command that runs liveness (`serve`, `up`, `worker`): resolved, and checked
 * against each other (the interval and the grace before suspicion must be shorter than the timeout).
 */
export function resolveConfig(
  flags: ConfigOverrides = {},
  env: NodeJS.ProcessEnv = process.env,
  options: ResolveOptions = {},
): Config {
  const config = resolveClientConfig(flags, env, options);
  checkLivenessTiming(config);
  return config;
}

export interface ResolveOptions {
  /**
   * Whether settings given neither as a flag nor in the environment come from the `cloudai up`
   * running on the data dir (its NATS URL and heartbeat timing); default true. `up` itself: false.
   */
  joinRunningUp?: boolean;
}

/** The settings a running `cloudai up` gives the commands on its data dir. */
const FROM_RUNNING_UP = ['natsUrl', 'tlsCa', 'heartbeatIntervalMs', 'heartbeatTimeoutMs'] as const;

/**
 * The settings of a command that does not judge liveness (the read-only ones and the requests
 * to the control plane): each one resolved and checked alone, so a timing that only `serve`
 * would refuse never stops `cloudai workers`.
 */
export function resolveClientConfig(
  flags: ConfigOverrides = {},
  env: NodeJS.ProcessEnv = process.env,
  options: ResolveOptions = {},
): Config {
  const config: Config = { ...DEFAULT_CONFIG };
  const given = new Set<keyof Config>();
  for (const key of Object.keys(DEFAULT_CONFIG) as Array<keyof Config>) {
    const envName = CONFIG_ENV[key];
    const envValue = envName ? env[envName] : undefined;
    const flagValue = flags[key];
    if (flagValue !== undefined) assign(config, key, flagValue, flagOf(key));
    else if (envValue !== undefined && envValue !== '') assign(config, key, envValue, envName as string);
    else continue;
    given.add(key);
  }
  const running = options.joinRunningUp === false ? undefined : findRunningUp(config.dataDir);
  for (const key of FROM_RUNNING_UP)
    if (running && !given.has(key)) Object.assign(config, { [key]: running[key] });
  // The grace before suspicion follows the heartbeat interval unless it was set itself.
  if (!given.has('suspectAfterMs')) config.suspectAfterMs = 2 * config.heartbeatIntervalMs;
  if (!isPolicyName(config.policy)) {
    throw new ConfigError(
      `${flags.policy !== undefined ? '--policy' : CONFIG_ENV.policy} ${JSON.stringify(config.policy)} is not a ` +
        `placement policy: use one of ${POLICY_NAMES.join(', ')}`,
    );
  }
  if (!RUNTIME_CHOICES.includes(config.runtime)) {
    throw new ConfigError(
      `${flags.runtime !== undefined ? '--runtime' : CONFIG_ENV.runtime} ${JSON.stringify(config.runtime)} is not a ` +
        `runtime: use one of ${RUNTIME_CHOICES.join(', ')} (auto: podman, then docker, else process)`,
    );
  }
  if (config.disruptionThresholdPercent > 100) {
    throw new ConfigError(
      `the disruption threshold (--disruption-threshold-percent / ${CONFIG_ENV.disruptionThresholdPercent}) ` +
        `is a share of the workers, at most 100 %, got ${config.disruptionThresholdPercent}`,
    );
  }
  if (config.metricsPort > 65_535) {
    throw new ConfigError(
      `metrics port must be between 1 and 65535 (0: no metrics), got ${config.metricsPort}`,
    );
  }
  if (config.httpPort > 65_535) {
    throw new ConfigError(
      `dashboard port must be between 1 and 65535 (0: no dashboard), got ${config.httpPort}`,
    );
  }
  if (
    config.alertWebhook !== '' &&
    (!/^https?:\/\/[^\s]+$/.test(config.alertWebhook) || !URL.canParse(config.alertWebhook))
  ) {
    throw new ConfigError(
      `alert webhook ${JSON.stringify(config.alertWebhook)} is not an http:// or https:// URL`,
    );
  }
  return config;
}

/** The constraints between the timing settings, for the commands whose behaviour depends on them. */
function checkLivenessTiming(config: Config): void {
  if (config.heartbeatIntervalMs >= config.heartbeatTimeoutMs) {
    throw new ConfigError(
      `heartbeat interval (${config.heartbeatIntervalMs} ms) must be shorter than the heartbeat timeout ` +
        `(${config.heartbeatTimeoutMs} ms), or every worker would flap between active and inactive`,
    );
  }
  if (config.suspectAfterMs >= config.heartbeatTimeoutMs) {
    throw new ConfigError(
      `the grace before suspicion (--suspect-after-ms / ${CONFIG_ENV.suspectAfterMs}, ${config.suspectAfterMs} ms) ` +
        `must be shorter than the heartbeat timeout (${config.heartbeatTimeoutMs} ms): a worker is suspect ` +
        'before it is declared inactive',
    );
  }
}

function assign(config: Config, key: keyof Config, value: unknown, source: string): void {
  if (typeof DEFAULT_CONFIG[key] === 'boolean') {
    const text = String(value).trim().toLowerCase();
    if (value !== true && value !== false && !BOOLEAN_WORDS.has(text)) {
      throw new ConfigError(`${source} must be true or false (or 1 or 0), got ${JSON.stringify(value)}`);
    }
    (config as unknown as Record<string, boolean>)[key] = value === true || text === 'true' || text === '1';
  } else if (typeof DEFAULT_CONFIG[key] === 'number') {
    const number = typeof value === 'number' ? value : Number(value);
    const fractional = FRACTIONAL.has(key);
    const minimumOk = ZERO_MEANS_OFF.has(key) ? number >= 0 : number > 0;
    if (typeof value === 'string' && value.trim() === '') throw new ConfigError(`${source} is empty`);
    if (!Number.isFinite(number) || !minimumOk || (!fractional && !Number.isInteger(number))) {
      const kind = fractional ? 'positive number' : 'positive whole number';
      throw new ConfigError(
        `${source} must be a ${kind} of ${unit(key)}${ZERO_MEANS_OFF.has(key) ? ' (0: off)' : ''}, got ${JSON.stringify(value)}`,
      );
    }
    (config as unknown as Record<string, number>)[key] = number;
  } else {
    (config as unknown as Record<string, string>)[key] = String(value);
  }
}

/** What `--runtime` accepts. */
export const RUNTIME_CHOICES: readonly string[] = ['auto', 'podman', 'docker', 'process'];

const BOOLEAN_WORDS: ReadonlySet<string> = new Set(['true', 'false', '1', '0']);

function unit(key: keyof Config): string {
  if (key.endsWith('Ms')) return 'milliseconds';
  if (key.endsWith('Bytes')) return 'bytes';
  if (key.endsWith('Percent')) return 'percent';
  if (key === 'maxWorkers' || key === 'disruptionMinWorkers') return 'workers';
  if (key === 'flapThreshold') return 'comebacks';
  if (key === 'phiWindowSize' || key === 'phiMinSamples') return 'samples';
  return key === 'metricsPort' || key === 'httpPort' ? 'port' : 'units';
}

/** The settings of the liveness judgement that `serve` and `up` take as flags, with what each is. */
export const LIVENESS_FLAGS: ReadonlyArray<readonly [keyof Config, string]> = [
  ['phiThreshold', 'φ at which a late worker becomes suspect'],
  ['suspectAfterMs', 'silence before suspect while φ has too few samples (default: 2 × interval)'],
  ['flapThreshold', 'comebacks from inactive allowed within the flap window'],
  ['flapWindowMs', 'the flap window'],
  ['flapHoldDownMs', 'how long a flapping worker must stay up to get tasks again'],
  ['disruptionThresholdPercent', 'disruption mode above this share of workers going silent at once'],
  ['disruptionMinWorkers', '… and above this many workers'],
];

/** `--heartbeat-timeout-ms` for `heartbeatTimeoutMs`. */
export function flagOf(key: keyof Config): string {
  return `--${kebab(key)}`;
}

function kebab(key: string): string {
  return key.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`);
}
