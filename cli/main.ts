#!/usr/bin/env node
import { Command, Option } from 'commander';
import type { WorkerCommandOptions } from './commands/worker.js';
import type { WorkersCommandOptions } from './commands/workers.js';
import { CONFIG_ENV, type ConfigOverrides, DEFAULT_CONFIG } from './config.js';

// Each command is loaded when it runs: `cloudai workers` then never loads the NATS client,
// XState or zod, which took a third of its run time with 100 000 workers.

interface SharedFlags {
  natsUrl?: string;
  dataDir?: string;
  heartbeatTimeoutMs?: string;
  heartbeatIntervalMs?: string;
}

const natsUrl = () =>
  new Option(
    '--nats-url <url>',
    `NATS server (env ${CONFIG_ENV.natsUrl}, default ${DEFAULT_CONFIG.natsUrl})`,
  );
const dataDir = () =>
  new Option('--data-dir <dir>', `data dir (env ${CONFIG_ENV.dataDir}, default ${DEFAULT_CONFIG.dataDir})`);
const heartbeatTimeout = () =>
  new Option(
    '--heartbeat-timeout-ms <ms>',
    `silence before a worker is inactive (env ${CONFIG_ENV.heartbeatTimeoutMs}, default ${DEFAULT_CONFIG.heartbeatTimeoutMs})`,
  );
const heartbeatInterval = () =>
  new Option(
    '--heartbeat-interval-ms <ms>',
    `time between heartbeats (env ${CONFIG_ENV.heartbeatIntervalMs}, default ${DEFAULT_CONFIG.heartbeatIntervalMs})`,
  );

/** Flags as `resolveConfig` takes them; strings are validated there, with the flag's name in the error. */
function overrides(flags: SharedFlags): ConfigOverrides {
  return {
    natsUrl: flags.natsUrl,
    dataDir: flags.dataDir,
    heartbeatTimeoutMs: flags.heartbeatTimeoutMs as unknown as number | undefined,
    heartbeatIntervalMs: flags.heartbeatIntervalMs as unknown as number | undefined,
  };
}

const program = new Command('cloudai')
  .description('CloudAI control plane: worker liveness from heartbeats, as one event-sourced truth')
  .showHelpAfterError();

program
  .command('up')
  .description('start nats-server, the control plane and three demo workers; Ctrl-C stops them all')
  .option('--nats-port <port>', 'port for the embedded nats-server (default 4222, or a free one when taken)')
  .addOption(dataDir())
  .addOption(heartbeatTimeout())
  .addOption(heartbeatInterval())
  .action((flags: SharedFlags & { natsPort?: string }) =>
    import('./commands/up.js').then(({ upCommand }) =>
      upCommand({ natsPort: flags.natsPort }, overrides(flags)),
    ),
  );

program
  .command('serve')
  .description('run the control plane (fleet and projector) against NATS_URL')
  .addOption(natsUrl())
  .addOption(dataDir())
  .addOption(heartbeatTimeout())
  .addOption(heartbeatInterval())
  .action((flags: SharedFlags) =>
    import('./commands/serve.js').then(({ serveCommand }) => serveCommand(overrides(flags))),
  );

program
  .command('worker')
  .description('run a heartbeat agent for one worker until stopped')
  .requiredOption('--id <id>', 'worker id: 1–64 characters of A–Z a–z 0–9 _ -')
  .option('--cpu <n>', 'CPU cores', '4')
  .option('--memory <gb>', 'memory in GB', '8')
  .option('--storage <gb>', 'storage in GB', '100')
  .option('--gpu <n>', 'GPUs', '0')
  .option('--address <host:port>', 'address the worker advertises (default: host name)')
  .option('--interval-ms <ms>', 'time between heartbeats (same as --heartbeat-interval-ms)')
  .addOption(heartbeatInterval())
  .addOption(heartbeatTimeout().hideHelp())
  .addOption(natsUrl())
  .action((flags: SharedFlags & WorkerCommandOptions & { intervalMs?: string }) =>
    import('./commands/worker.js').then(({ workerCommand }) =>
      workerCommand(
        flags,
        overrides({ ...flags, heartbeatIntervalMs: flags.heartbeatIntervalMs ?? flags.intervalMs }),
      ),
    ),
  );

program
  .command('workers')
  .description('show every worker from the read model')
  .option('--json', 'print the worker documents as JSON')
  .option('--watch', 'redraw every second until Ctrl-C')
  .option('--status <status>', 'only workers with this status: active or inactive')
  .addOption(dataDir())
  .action((flags: SharedFlags & WorkersCommandOptions) =>
    import('./commands/workers.js').then(({ workersCommand }) => workersCommand(flags, overrides(flags))),
  );

program
  .command('rebuild')
  .description('rebuild the read model from the WORKER_EVENTS stream')
  .addOption(natsUrl())
  .addOption(dataDir())
  .action((flags: SharedFlags) =>
    import('./commands/rebuild.js').then(({ rebuildCommand }) => rebuildCommand(overrides(flags))),
  );

try {
  await program.parseAsync(process.argv);
} catch (error) {
  // Errors a user can cause carry their own advice; print it on one line, not a stack trace.
  process.stderr.write(`cloudai: ${(error as Error).message}\n`);
  if (process.env.CLOUDAI_DEBUG) process.stderr.write(`${(error as Error).stack}\n`);
  process.exit(1);
}
