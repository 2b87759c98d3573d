#!/usr/bin/env node
import { Command, Option } from 'commander';
import type { AlertsCommandOptions } from './commands/alerts.js';
import type { CredentialsCommandOptions } from './commands/credentials.js';
import type { WorkerControl } from './commands/operator.js';
import type { TaskSubmitOptions } from './commands/task.js';
import type { TasksCommandOptions } from './commands/tasks.js';
import type { WorkerCommandOptions } from './commands/worker.js';
import type { WorkersCommandOptions } from './commands/workers.js';
import { CONFIG_ENV, type ConfigOverrides, DEFAULT_CONFIG, flagOf, LIVENESS_FLAGS } from './config.js';
import { WORKER_FILTERS } from './worker-selection.js';

// Each command's module is loaded when it runs: `cloudai workers` then never loads the NATS
// client, XState or zod, which took a third of its run time with 100 000 workers.

interface SharedFlags {
  natsUrl?: string;
  credentials?: string;
  dataDir?: string;
  heartbeatTimeoutMs?: string;
  heartbeatIntervalMs?: string;
  policy?: string;
  rtsParams?: string;
  assignTimeoutMs?: string;
  taskMs?: string;
  metricsPort?: string;
  metricsHost?: string;
  alertWebhook?: string;
}

const natsUrl = () =>
  new Option(
    '--nats-url <url>',
    `NATS server (env ${CONFIG_ENV.natsUrl}, default ${DEFAULT_CONFIG.natsUrl})`,
  );
const dataDir = () =>
  new Option('--data-dir <dir>', `data dir (env ${CONFIG_ENV.dataDir}, default ${DEFAULT_CONFIG.dataDir})`);
const credentials = () =>
  new Option(
    '--credentials <file>',
    `NATS credentials file (env ${CONFIG_ENV.credentials}; default: this identity's file in the data dir, if any)`,
  );
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

const policy = () =>
  new Option(
    '--policy <name>',
    `placement policy: rts or round-robin (env ${CONFIG_ENV.policy}, default ${DEFAULT_CONFIG.policy})`,
  );
const rtsParams = () =>
  new Option(
    '--rts-params <file>',
    `JSON file of RTS parameters (Theta, Risk, Tau, AffinityMatrix, PenaltyVector; env ${CONFIG_ENV.rtsParams}, default: the original's)`,
  );
const assignTimeout = () =>
  new Option(
    '--assign-timeout-ms <ms>',
    `time a worker has to acknowledge an assignment (env ${CONFIG_ENV.assignTimeoutMs}, default ${DEFAULT_CONFIG.assignTimeoutMs})`,
  );

const metricsPort = () =>
  new Option(
    '--metrics-port <port>',
    `serve Prometheus metrics on /metrics and health on /healthz at this port (env ${CONFIG_ENV.metricsPort}; default: none)`,
  );
const metricsHost = () =>
  new Option(
    '--metrics-host <host>',
    `interface the metrics port listens on (env ${CONFIG_ENV.metricsHost}, default ${DEFAULT_CONFIG.metricsHost}: all)`,
  );
const alertWebhook = () =>
  new Option(
    '--alert-webhook <url>',
    `POST every liveness alert as JSON to this http(s) URL, with retries (env ${CONFIG_ENV.alertWebhook}; default: none)`,
  );

/** Suspicion, flap damping and disruption settings, on `serve` and `up`. */
const livenessOptions = () =>
  LIVENESS_FLAGS.map(
    ([key, what]) =>
      new Option(
        `${flagOf(key)} <n>`,
        `${what} (env ${CONFIG_ENV[key]}${key === 'suspectAfterMs' ? '' : `, default ${DEFAULT_CONFIG[key]}`})`,
      ),
  );

function withLivenessOptions(command: Command): Command {
  for (const option of livenessOptions()) command.addOption(option);
  return command;
}

/** Flags as `resolveConfig` takes them; strings are validated there, with the flag's name in the error. */
function overrides(flags: SharedFlags): ConfigOverrides {
  return {
    natsUrl: flags.natsUrl,
    dataDir: flags.dataDir,
    credentials: flags.credentials,
    heartbeatTimeoutMs: flags.heartbeatTimeoutMs as unknown as number | undefined,
    heartbeatIntervalMs: flags.heartbeatIntervalMs as unknown as number | undefined,
    policy: flags.policy as ConfigOverrides['policy'],
    rtsParams: flags.rtsParams,
    assignTimeoutMs: flags.assignTimeoutMs as unknown as number | undefined,
    taskMs: flags.taskMs as unknown as number | undefined,
    metricsPort: flags.metricsPort as unknown as number | undefined,
    metricsHost: flags.metricsHost,
    alertWebhook: flags.alertWebhook,
    ...Object.fromEntries(LIVENESS_FLAGS.map(([key]) => [key, (flags as Record<string, unknown>)[key]])),
  };
}

const program = new Command('cloudai')
  .description('CloudAI control plane: worker liveness from heartbeats, as one event-sourced truth')
  .showHelpAfterError()
  // Options after a subcommand's name belong to it: `workers stats ID --json` is the subcommand's --json,
  // not `workers`' (commander would otherwise give every option the parent knows to the parent).
  .enablePositionalOptions();

const up = program
  .command('up')
  .description('start nats-server, the control plane and three demo workers; Ctrl-C stops them all')
  .option('--nats-port <port>', 'port for the embedded nats-server (default 4222, or a free one when taken)')
  .addOption(dataDir())
  .addOption(heartbeatTimeout())
  .addOption(heartbeatInterval())
  .addOption(metricsPort())
  .addOption(metricsHost())
  .addOption(alertWebhook())
  .action(async (flags: SharedFlags & { natsPort?: string }) =>
    (await import('./commands/up.js')).upCommand({ natsPort: flags.natsPort }, overrides(flags)),
  );

const serve = program
  .command('serve')
  .description('run the control plane (fleet, projectors, scheduler) against NATS_URL')
  .addOption(natsUrl())
  .addOption(credentials())
  .addOption(dataDir())
  .addOption(heartbeatTimeout())
  .addOption(heartbeatInterval())
  .addOption(policy())
  .addOption(rtsParams())
  .addOption(assignTimeout())
  .addOption(metricsPort())
  .addOption(metricsHost())
  .addOption(alertWebhook())
  .action(async (flags: SharedFlags) => (await import('./commands/serve.js')).serveCommand(overrides(flags)));
withLivenessOptions(up);
withLivenessOptions(serve);

program
  .command('worker')
  .description('run a worker agent until stopped: heartbeats, and the tasks the scheduler assigns to it')
  .requiredOption('--id <id>', 'worker id: 1–64 characters of A–Z a–z 0–9 _ -')
  .option('--cpu <n>', 'CPU cores', '4')
  .option('--memory <gb>', 'memory in GB', '8')
  .option('--storage <gb>', 'storage in GB', '100')
  .option('--gpu <n>', 'GPUs', '0')
  .option('--address <host:port>', 'address the worker advertises (default: host name)')
  .option('--interval-ms <ms>', 'time between heartbeats (same as --heartbeat-interval-ms)')
  .option(
    '--task-ms <ms>',
    `how long a task without --command takes (env ${CONFIG_ENV.taskMs}, default ${DEFAULT_CONFIG.taskMs})`,
  )
  .addOption(heartbeatInterval())
  .addOption(heartbeatTimeout().hideHelp())
  .addOption(natsUrl())
  .addOption(credentials())
  .addOption(dataDir())
  .action(async (flags: SharedFlags & WorkerCommandOptions & { intervalMs?: string }) =>
    (await import('./commands/worker.js')).workerCommand(
      flags,
      overrides({ ...flags, heartbeatIntervalMs: flags.heartbeatIntervalMs ?? flags.intervalMs }),
    ),
  );

// `cloudai workers` shows the table; its subcommands act on one worker.
const workers = program
  .command('workers')
  .description(
    'show every worker from the read model (removed ones with --all); stats, cordon, uncordon or remove one',
  )
  .option('--json', 'print the worker documents as JSON, each with its stats and whether it is schedulable')
  .option('--watch', 'redraw every second until Ctrl-C')
  .option(
    '--status <status>',
    `only these workers: ${WORKER_FILTERS.join(', ')} (removed ones only with --all or --status removed)`,
  )
  .option('--all', 'removed workers too')
  .addOption(dataDir())
  .action(async (flags: SharedFlags & WorkersCommandOptions) =>
    (await import('./commands/workers.js')).workersCommand(flags, overrides(flags)),
  );

workers
  .command('stats')
  .description('one worker: time active, suspect and inactive, outages, mean time to recovery, availability')
  .argument('<id>', 'worker id, as `cloudai workers` shows it')
  .option('--json', 'print the worker document with its stats as JSON')
  .addOption(dataDir())
  .action(async (id: string, _flags: SharedFlags, command: Command) => {
    // `cloudai workers --data-dir D stats ID` gave --data-dir to `workers`: take it from there too.
    const flags = command.optsWithGlobals<SharedFlags & { json?: boolean }>();
    return (await import('./commands/workers-stats.js')).workersStatsCommand(id, flags, overrides(flags));
  });

const WORKER_CONTROLS: ReadonlyArray<[WorkerControl, string]> = [
  ['cordon', 'no new tasks for a worker; it keeps those it runs (undo with uncordon)'],
  ['uncordon', 'let a cordoned worker get new tasks again'],
  ['remove', 'forget an inactive worker that is gone for good; it registers again if it heartbeats'],
];
for (const [control, description] of WORKER_CONTROLS) {
  workers
    .command(control)
    .description(description)
    .argument('<id>', 'worker id, as `cloudai workers` lists it')
    .addOption(natsUrl())
    .addOption(credentials())
    .addOption(dataDir())
    .action(async (id: string, _flags: SharedFlags, command: Command) =>
      (await import('./commands/operator.js')).workerControlCommand(
        control,
        id,
        overrides(command.optsWithGlobals<SharedFlags>()),
      ),
    );
}

const disruption = program
  .command('disruption')
  .description('disruption mode: when too many workers go silent at once, nobody is declared inactive');

disruption
  .command('status')
  .description('whether the fleet is in disruption mode, from the read model')
  .option('--json', 'print the disruption document as JSON')
  .addOption(dataDir())
  .action(async (flags: SharedFlags & { json?: boolean }) =>
    (await import('./commands/operator.js')).disruptionStatusCommand(flags, overrides(flags)),
  );

disruption
  .command('end')
  .description(
    'end disruption mode: workers still silent are declared inactive now, and their tasks requeued',
  )
  .addOption(natsUrl())
  .addOption(credentials())
  .addOption(dataDir())
  .action(async (flags: SharedFlags) =>
    (await import('./commands/operator.js')).disruptionEndCommand(overrides(flags)),
  );

program
  .command('alerts')
  .description(
    'print liveness alerts (inactive, active again, suspect, disruption) as they happen, until Ctrl-C',
  )
  .option('--json', 'one JSON alert per line, as published on alerts.>')
  .addOption(natsUrl())
  .addOption(credentials())
  .addOption(dataDir())
  .action(async (flags: SharedFlags & AlertsCommandOptions) =>
    (await import('./commands/alerts.js')).alertsCommand(flags, overrides(flags)),
  );

const task = program.command('task').description('submit, inspect or cancel one task');

task
  .command('submit')
  .description('hand a task to the scheduler; prints the worker it went to, or why it waits')
  .option('--image <image>', 'container image (recorded; the worker runs --command or simulates)')
  .option('--command <cmd>', 'shell command the worker runs with sh -c (exit code 0: completed)')
  .option('--cpu <n>', 'CPU cores requested (default 1)')
  .option('--memory <gb>', 'memory in GB requested (default 0.5)')
  .option('--storage <gb>', 'storage in GB requested (default 1)')
  .option('--gpu <n>', 'GPUs requested (default 0)')
  .option(
    '--type <type>',
    'cpu-light, cpu-heavy, memory-heavy, gpu-inference, gpu-training or mixed (default: inferred)',
  )
  .option('--k <k>', 'SLA multiplier between 1.5 and 2.5: deadline = submitted + k·τ (default 2.0)')
  .addOption(natsUrl())
  .addOption(credentials())
  .addOption(dataDir())
  .action(async (flags: SharedFlags & TaskSubmitOptions) =>
    (await import('./commands/task.js')).taskSubmitCommand(flags, overrides(flags)),
  );

task
  .command('show')
  .description('show one task from the read model: its attempts and history')
  .argument('<id>', 'task id, as `cloudai task submit` printed it')
  .option('--json', 'print the task document as JSON')
  .addOption(dataDir())
  .action(async (id: string, flags: SharedFlags & { json?: boolean }) =>
    (await import('./commands/task.js')).taskShowCommand(id, flags, overrides(flags)),
  );

task
  .command('cancel')
  .description('cancel a task that has not ended; a running one is stopped on its worker')
  .argument('<id>', 'task id')
  .addOption(natsUrl())
  .addOption(credentials())
  .addOption(dataDir())
  .action(async (id: string, flags: SharedFlags) =>
    (await import('./commands/task.js')).taskCancelCommand(id, overrides(flags)),
  );

program
  .command('tasks')
  .description('show every task from the read model, oldest first')
  .option('--json', 'print the task documents as JSON')
  .option(
    '--status <status>',
    'only tasks with this status: queued, assigned, running, completed, failed or cancelled',
  )
  .addOption(dataDir())
  .action(async (flags: SharedFlags & TasksCommandOptions) =>
    (await import('./commands/tasks.js')).tasksCommand(flags, overrides(flags)),
  );

program
  .command('rebuild')
  .description('rebuild the read model from the WORKER_EVENTS and TASKS streams')
  .addOption(natsUrl())
  .addOption(credentials())
  .addOption(dataDir())
  .action(async (flags: SharedFlags) =>
    (await import('./commands/rebuild.js')).rebuildCommand(overrides(flags)),
  );

program
  .command('credentials')
  .description('create NATS credentials for an identity (worker, cli, control-plane) and apply them')
  .argument('<identity>', 'worker, cli or control-plane')
  .option('--id <id>', 'the worker id, for a worker')
  .addOption(dataDir())
  .action(async (identity: string, flags: SharedFlags & CredentialsCommandOptions) =>
    (await import('./commands/credentials.js')).credentialsCommand(identity, flags, overrides(flags)),
  );

try {
  await program.parseAsync(process.argv);
} catch (error) {
  // Errors a user can cause carry their own advice; print it on one line, not a stack trace.
  process.stderr.write(`cloudai: ${(error as Error).message}\n`);
  if (process.env.CLOUDAI_DEBUG) process.stderr.write(`${(error as Error).stack}\n`);
  process.exit(1);
}
