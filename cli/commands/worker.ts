import { cpus, freemem, hostname, loadavg, totalmem } from 'node:os';
import { capacitySchema, type Usage } from '../../streams/contracts/heartbeat.js';
import { ID_RULE, isValidWorkerId } from '../../streams/contracts/subjects.js';
import { connectToNats } from '../../streams/nats/connection.js';
import { createConsoleLogger } from '../../streams/util/logger.js';
import { HeartbeatPublisher } from '../../worker/heartbeat-publisher.js';
import { LEAVE_REPLY_TIMEOUT_MS, leaveCleanly } from '../../worker/leave.js';
import { TaskAgent } from '../../worker/task-agent.js';
import { ConfigError, type ConfigOverrides, resolveConfig } from '../config.js';
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
  if (!isValidWorkerId(options.id)) {
    throw new ConfigError(`--id ${JSON.stringify(options.id)} is not a valid worker id: use ${ID_RULE}`);
  }
  const parsed = capacitySchema.safeParse({
    cpu: Number(options.cpu),
    memoryGb: Number(options.memory),
    storageGb: Number(options.storage),
    gpu: Number(options.gpu),
  });
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ConfigError(
      `invalid capacity ${issue?.path.join('.')}: ${issue?.message}; use non-negative numbers`,
    );
  }
  const logger = createConsoleLogger(`worker ${options.id}`);
  const nc = await connectToNats({
    url: config.natsUrl,
    name: `cloudai-worker-${options.id}`,
    ...natsAccessFor(config, { role: 'worker', workerId: options.id }),
  });
  const agent = new TaskAgent({
    nc,
    workerId: options.id,
    capacity: parsed.data,
    simulateMs: config.taskMs,
    logger,
  });
  agent.start();
  const publisher = new HeartbeatPublisher({
    nc,
    workerId: options.id,
    intervalMs: config.heartbeatIntervalMs,
    address: options.address ?? hostname(),
    capacity: parsed.data,
    usage: hostUsage,
    runningTasks: () => agent.runningTasks(),
  });
  publisher.start();
  logger.info(
    `heartbeating on ${config.natsUrl} every ${config.heartbeatIntervalMs} ms (pid ${process.pid}); ` +
      `tasks without a command take ${config.taskMs} ms`,
  );
  exitGracefullyOnSignal({
    // A clean stop announces itself, so its tasks move at once; a crash is found by the timeout.
    shutdown: async () => {
      await leaveCleanly({ nc, workerId: options.id, publisher, agent, logger });
      await agent.close();
      await nc.close();
    },
    graceMs: LEAVE_REPLY_TIMEOUT_MS + 1_000,
    log: (message) => logger.info(message),
  });
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
