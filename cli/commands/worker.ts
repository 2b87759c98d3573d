import { cpus, freemem, hostname, loadavg, totalmem } from 'node:os';
import { type Capacity, RESOURCE_LIMITS, type Usage } from '../../streams/contracts/heartbeat.js';
import { connectToNats } from '../../streams/nats/connection.js';
import { createConsoleLogger } from '../../streams/util/logger.js';
import { HeartbeatPublisher } from '../../worker/heartbeat-publisher.js';
import { LEAVE_REPLY_TIMEOUT_MS, leaveCleanly } from '../../worker/leave.js';
import { chooseRuntime, type RuntimeChoice } from '../../worker/runtimes/probe.js';
import { TaskAgent } from '../../worker/task-agent.js';
import { ConfigError, type ConfigOverrides, checkWorkerIdFlag, resolveConfig } from '../config.js';
import { natsAccessFor } from '../credentials.js';
import { exitGracefullyOnSignal } from '../lifecycle.js';

export interface WorkerCommandOptions {
  id: string;
  cpu: string;
  memory: string;
  storage: string;
  gpu: string;
  address?: string;
}

/**
 * `cloudai worker`: a heartbeat agent that beats until stopped, and runs the tasks the
 * scheduler assigns to it (listing them in its heartbeats).
 */
export async function workerCommand(
  options: WorkerCommandOptions,
  overrides: ConfigOverrides,
): Promise<void> {
  const config = resolveConfig(overrides);
  checkWorkerIdFlag(options.id);
  const capacity: Capacity = {
    cpu: capacityFlag('--cpu', options.cpu, 'cores', RESOURCE_LIMITS.cpu),
    memoryGb: capacityFlag('--memory', options.memory, 'GB', RESOURCE_LIMITS.memoryGb),
    storageGb: capacityFlag('--storage', options.storage, 'GB', RESOURCE_LIMITS.storageGb),
    gpu: capacityFlag('--gpu', options.gpu, 'GPUs', RESOURCE_LIMITS.gpu),
  };
  const logger = createConsoleLogger(`worker ${options.id}`);
  const runtime = await chooseRuntime(config.runtime as RuntimeChoice, logger).catch((error: Error) => {
    throw new ConfigError(error.message);
  });
  const nc = await connectToNats({
    url: config.natsUrl,
    name: `cloudai-worker-${options.id}`,
    ...natsAccessFor(config, { role: 'worker', workerId: options.id }),
  });
  const agent = new TaskAgent({
    nc,
    workerId: options.id,
    capacity: capacity,
    simulateMs: config.taskMs,
    logger,
    runtime,
    stopGraceMs: config.taskStopGraceMs,
  });
  const recovered = await agent.recoverLeftovers();
  if (recovered > 0) logger.info(`removed ${recovered} task container(s) left behind by an earlier run`);
  agent.start();
  const publisher = new HeartbeatPublisher({
    nc,
    workerId: options.id,
    intervalMs: config.heartbeatIntervalMs,
    address: options.address ?? hostname(),
    capacity: { ...capacity, runtime: runtime.name },
    usage: hostUsage,
    runningTasks: () => agent.runningTasks(),
  });
  publisher.start();
  logger.info(
    `heartbeating on ${config.natsUrl} every ${config.heartbeatIntervalMs} ms (pid ${process.pid}); ` +
      `tasks run in ${runtime.name === 'process' ? 'this host with sh -c (process runtime)' : `their images with ${runtime.name}`}; ` +
      `tasks without a command take ${config.taskMs} ms`,
  );
  exitGracefullyOnSignal({
    // A clean stop announces itself, so its tasks move at once; a crash is found by the timeout.
    shutdown: async () => {
      await leaveCleanly({ nc, workerId: options.id, publisher, agent, logger });
      await agent.close();
      await nc.close();
    },
    // Room for the leave, and for running tasks to get SIGTERM, their grace, then SIGKILL and removal.
    graceMs: config.taskStopGraceMs + LEAVE_REPLY_TIMEOUT_MS + WORKER_SHUTDOWN_SLACK_MS,
    log: (message) => logger.info(message),
  });
}

/** Beyond the tasks' stop grace: removing their containers and closing the connection. */
const WORKER_SHUTDOWN_SLACK_MS = 5_000;

/** A capacity flag's number, or an error that quotes what was typed and says what is accepted. */
function capacityFlag(flag: string, typed: string, unit: string, max: number): number {
  const value = typed.trim() === '' ? Number.NaN : Number(typed);
  if (!Number.isFinite(value) || value < 0) {
    throw new ConfigError(`${flag} must be a number of ${unit} ≥ 0, got ${JSON.stringify(typed)}`);
  }
  if (value > max)
    throw new ConfigError(`${flag} must be at most ${max} ${unit}, got ${JSON.stringify(typed)}`);
  return value;
}

/** What this host is doing; a simulated worker reports its host's load. */
function hostUsage(): Usage {
  const clamp = (value: number) => Math.min(1, Math.max(0, value));
  return {
    cpu: clamp((loadavg()[0] ?? 0) / Math.max(1, cpus().length)),
    memory: clamp(1 - freemem() / totalmem()),
    storage: 0,
    gpu: 0,
  };
}
