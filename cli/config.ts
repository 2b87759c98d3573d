import { join } from 'node:path';
import { isPolicyName, POLICY_NAMES, type PolicyName } from '../scheduler/policies/policy.js';
import { DEFAULT_NATS_URL } from '../streams/connection.js';
import { DEFAULT_MAX_HEARTBEAT_BYTES } from '../streams/heartbeat-intake.js';

/** Settings shared by every command. Flags override environment variables, which override these defaults. */
export interface Config {
  natsUrl: string;
  dataDir: string;
  /** Silence after which a worker is declared inactive. */
  heartbeatTimeoutMs: number;
  /** How often `cloudai worker` sends a heartbeat. */
  heartbeatIntervalMs: number;
  maxHeartbeatBytes: number;
  /** The placement policy of `cloudai serve`. */
  policy: PolicyName;
  /** JSON file with RTS parameters; empty: the original's defaults. */
  rtsParams: string;
  /** How long a worker's agent has to acknowledge an assignment before the task goes elsewhere. */
  assignTimeoutMs: number;
  /** How long a worker that did not acknowledge a task is not offered it again (unless it comes back). */
  assignRetryAfterMs: number;
  /** How many younger tasks may be placed ahead of a waiting task before it reserves a worker. */
  queueBypassLimit: number;
  /** How long `cloudai task submit|cancel` wait for the scheduler; it answers within half of it. */
  requestTimeoutMs: number;
  /** How long `cloudai worker` simulates a task that has no command. */
  taskMs: number;
  /** Most workers one monitor tracks; heartbeats from further new ids are refused and counted. */
  maxWorkers: number;
  /** NATS credentials file; empty: the command's own file in the data dir, if there is one. */
  credentials: string;
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
};

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
};

/** Where `cloudai up` keeps the embedded nats-server's store, config copy and pid file. */
export function embeddedServerDir(dataDir: string): string {
  return join(dataDir, 'nats');
}

/** Where the identities of an installation live (owner-only). */
export function credentialsDir(dataDir: string): string {
  return join(dataDir, 'credentials');
}

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

export type ConfigOverrides = { [K in keyof Config]?: Config[K] | undefined };

export function resolveConfig(flags: ConfigOverrides = {}, env: NodeJS.ProcessEnv = process.env): Config {
  const config: Config = { ...DEFAULT_CONFIG };
  for (const key of Object.keys(DEFAULT_CONFIG) as Array<keyof Config>) {
    const envName = CONFIG_ENV[key];
    const envValue = envName ? env[envName] : undefined;
    const flagValue = flags[key];
    if (flagValue !== undefined) assign(config, key, flagValue, `--${kebab(key)}`);
    else if (envValue !== undefined && envValue !== '') assign(config, key, envValue, envName as string);
  }
  if (!isPolicyName(config.policy)) {
    throw new ConfigError(
      `${flags.policy !== undefined ? '--policy' : CONFIG_ENV.policy} ${JSON.stringify(config.policy)} is not a ` +
        `placement policy: use one of ${POLICY_NAMES.join(', ')}`,
    );
  }
  if (config.heartbeatIntervalMs >= config.heartbeatTimeoutMs) {
    throw new ConfigError(
      `heartbeat interval (${config.heartbeatIntervalMs} ms) must be shorter than the heartbeat timeout ` +
        `(${config.heartbeatTimeoutMs} ms), or every worker would flap between active and inactive`,
    );
  }
  return config;
}

function assign(config: Config, key: keyof Config, value: unknown, source: string): void {
  if (typeof DEFAULT_CONFIG[key] === 'number') {
    const number = typeof value === 'number' ? value : Number(value);
    if (!Number.isFinite(number) || number <= 0 || !Number.isInteger(number)) {
      throw new ConfigError(
        `${source} must be a positive whole number of ${unit(key)}, got ${JSON.stringify(value)}`,
      );
    }
    (config as unknown as Record<string, number>)[key] = number;
  } else {
    (config as unknown as Record<string, string>)[key] = String(value);
  }
}

function unit(key: keyof Config): string {
  if (key.endsWith('Ms')) return 'milliseconds';
  if (key.endsWith('Bytes')) return 'bytes';
  return key === 'maxWorkers' ? 'workers' : 'units';
}

function kebab(key: string): string {
  return key.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`);
}
