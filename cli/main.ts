#!/usr/bin/env node
import { Command, Option } from 'commander';
import { DEFAULT_DRAIN_DEADLINE } from '../streams/contracts/operator-requests.js';
import { ID_RULE } from '../streams/contracts/subjects.js';
import { UserFacingError } from '../streams/util/user-error.js';
import type { AlertsCommandOptions } from './commands/alerts.js';
import type { CredentialsCommandOptions } from './commands/credentials.js';
import type { DrainCommandOptions, WorkerControl } from './commands/operator.js';
import type { TaskSubmitOptions } from './commands/task.js';
import type { TasksCommandOptions } from './commands/tasks.js';
import type { WorkerCommandOptions } from './commands/worker.js';
import type { WorkersCommandOptions } from './commands/workers.js';
import {
  CONFIG_ENV,
  type Config,
  type ConfigOverrides,
  DEFAULT_CONFIG,
  flagOf,
  LIVENESS_FLAGS,
} from './config.js';
import { WORKER_FILTERS } from './worker-selection.js';

// Each command's module is loaded when it runs: `cloudai workers` then never loads the NATS
// client, XState or zod, which took a third of its run time with 100 000 workers.

/** Flags as commander gives them: strings, validated by `resolveConfig` with the flag's name in the error. */
type SharedFlags = ConfigOverrides;

/** Each setting's flag: its argument, what it is, and its default when that is not `DEFAULT_CONFIG`'s value. */
const CONFIG_FLAGS: Partial<Record<keyof Config, { arg: string; what: string; otherDefault?: string }>> = {
  natsUrl: {
    arg: 'url',
    what: 'NATS server',
    otherDefault: `the one \`cloudai up\` runs for this data dir (with its heartbeat timing), else ${DEFAULT_CONFIG.natsUrl}`,
  },
  dataDir: { arg: 'dir', what: 'data dir' },
  credentials: {
    arg: 'file',
    what: 'NATS credentials file',
    otherDefault: "this identity's file in the data dir, if any",
  },
  tlsCa: {
    arg: 'file',
    what: "CA certificate that signed the NATS server's: connect over TLS and verify the server",
    otherDefault: 'none, no TLS',
  },
  heartbeatTimeoutMs: { arg: 'ms', what: 'silence before a worker is inactive' },
  heartbeatIntervalMs: { arg: 'ms', what: 'time between heartbeats' },
  policy: { arg: 'name', what: 'placement policy: rts or round-robin' },
  rtsParams: {
    arg: 'file',
    what: 'JSON file of RTS parameters: Theta, Risk, Tau, AffinityMatrix, PenaltyVector',
    otherDefault: "the original's",
  },
  assignTimeoutMs: { arg: 'ms', what: 'time a worker has to acknowledge an assignment' },
  leaseTtlMs: {
    arg: 'ms',
    what: 'lease TTL of control planes sharing a cluster: a dead one is replaced after it (the same on all of them)',
  },
  taskMs: { arg: 'ms', what: 'how long a task without --command takes' },
  metricsPort: {
    arg: 'port',
    what: 'serve Prometheus metrics on /metrics and health on /healthz at this port',
    otherDefault: 'none',
  },
  metricsHost: {
    arg: 'host',
    what: 'interface the metrics port listens on',
    otherDefault: `${DEFAULT_CONFIG.metricsHost}, all of them`,
  },
  runtime: {
    arg: 'name',
    what: 'where tasks run: podman or docker (in their image, with limits), process (sh -c on this host), auto',
    otherDefault: 'auto: podman, then docker, whichever answers, else process with a warning',
  },
  taskStopGraceMs: { arg: 'ms', what: 'time a stopped task has between SIGTERM and SIGKILL' },
  taskLogsMaxBytes: { arg: 'bytes', what: 'bound of all stored task output (TASK_LOGS); oldest goes first' },
  httpPort: {
    arg: 'port',
    what: 'serve the web dashboard and its JSON API at this port',
    otherDefault: 'none; `up`: 8080, or a free port when taken',
  },
  httpHost: { arg: 'host', what: 'interface the dashboard listens on' },
  httpToken: {
    arg: 'token',
    what: "allow the dashboard's actions (cordon, uncordon, remove, cancel) to requests bearing this token; the env variable keeps it out of `ps`",
    otherDefault: 'none: read-only',
  },
  alertWebhook: {
    arg: 'url',
    what: 'POST every liveness alert as JSON to this http(s) URL, with retries',
    otherDefault: 'none',
  },
  ...Object.fromEntries(
    LIVENESS_FLAGS.map(([key, what]) => [
      key,
      // The grace before suspicion says its default (2 × interval) itself.
      { arg: 'n', what, otherDefault: key === 'suspectAfterMs' ? '' : undefined },
    ]),
  ),
};

/** `--heartbeat-timeout-ms <ms>` with what it is, its environment variable and its default. */
function configOption(key: keyof Config): Option {
  const flag = CONFIG_FLAGS[key];
  if (!flag) throw new Error(`setting ${key} has no flag`);
  const { arg, what, otherDefault } = flag;
  const defaultText =
    otherDefault === undefined
      ? `, default ${DEFAULT_CONFIG[key]}`
      : otherDefault && `; default: ${otherDefault}`;
  return new Option(`${flagOf(key)} <${arg}>`, `${what} (env ${CONFIG_ENV[key]}${defaultText})`);
}

function withConfigOptions(command: Command, keys: ReadonlyArray<keyof Config>): Command {
  for (const key of keys) command.addOption(configOption(key));
  return command;
}

/** What every command that talks to the control plane over NATS takes. */
const CLIENT_SETTINGS = ['natsUrl', 'credentials', 'tlsCa', 'dataDir'] as const;
/** Suspicion, flap damping and disruption settings, on `serve` and `up`. */
const LIVENESS_SETTINGS = LIVENESS_FLAGS.map(([key]) => key);
const METRICS_AND_ALERT_SETTINGS = [
  'metricsPort',
  'metricsHost',
  'alertWebhook',
  'httpPort',
  'httpHost',
  'httpToken',
] as const;

const ALLOW_HOST_TASKS_HELP =
  'place tasks that run a command on workers of runtime process too: sh -c on their host, outside any image ' +
  `(env ${CONFIG_ENV.allowHostTasks}; default: such tasks wait for a container worker)`;

/** Exit codes, as the help lists them. */
const EXIT_CODES = { failed: 1, internal: 70 } as const;

const program = new Command('cloudai')
  .description('CloudAI control plane: worker liveness from heartbeats, as one event-sourced truth')
  .addHelpText(
    'after',
    `\nExit codes: 0 done; ${EXIT_CODES.failed} not done, the message says why and what to do (a wrong flag or ` +
      `setting, no server, a refusal); ${EXIT_CODES.internal} internal error, a bug in cloudai ` +
      '(CLOUDAI_DEBUG=1 prints its stack).',
  )
  .showHelpAfterError()
  // Options after a subcommand's name belong to it: `workers stats ID --json` is the subcommand's --json,
  // not `workers`' (commander would otherwise give every option the parent knows to the parent).
  .enablePositionalOptions();

withConfigOptions(
  program
    .command('up')
    .description('start nats-server, the control plane and three demo workers; Ctrl-C stops them all')
    .option(
      '--nats-port <port>',
      'port for the embedded nats-server (default 4222, or a free one when taken); with --ha, the first of three',
    )
    .option(
      '--tls',
      "TLS on every NATS link, with the data dir's private CA (made by `cloudai credentials tls` if missing)",
    )
    .option(
      '--ha',
      'high availability on this machine: three clustered nats-servers and three control planes (docs/high-availability.md)',
    )
    .option('--allow-host-tasks', ALLOW_HOST_TASKS_HELP),
  [
    'dataDir',
    'heartbeatTimeoutMs',
    'heartbeatIntervalMs',
    ...METRICS_AND_ALERT_SETTINGS,
    ...LIVENESS_SETTINGS,
  ],
).action(async (flags: SharedFlags & { natsPort?: string; tls?: boolean; ha?: boolean }) =>
  (await import('./commands/up.js')).upCommand(
    { natsPort: flags.natsPort, tls: flags.tls === true, ha: flags.ha === true },
    flags,
  ),
);

withConfigOptions(
  program
    .command('serve')
    .description('run the control plane (fleet, projectors, scheduler) against NATS_URL')
    .option('--allow-host-tasks', ALLOW_HOST_TASKS_HELP),
  [
    ...CLIENT_SETTINGS,
    'heartbeatTimeoutMs',
    'heartbeatIntervalMs',
    'policy',
    'rtsParams',
    'assignTimeoutMs',
    'taskLogsMaxBytes',
    'leaseTtlMs',
    ...METRICS_AND_ALERT_SETTINGS,
    ...LIVENESS_SETTINGS,
  ],
).action(async (flags: SharedFlags) => (await import('./commands/serve.js')).serveCommand(flags));

withConfigOptions(
  program
    .command('worker')
    .description('run a worker agent until stopped: heartbeats, and the tasks the scheduler assigns to it')
    .requiredOption('--id <id>', `worker id: ${ID_RULE}`)
    .option('--cpu <n>', 'CPU cores', '4')
    .option('--memory <gb>', 'memory in GB', '8')
    .option('--storage <gb>', 'storage in GB', '100')
    .option('--gpu <n>', 'GPUs', '0')
    .option('--address <host:port>', 'address the worker advertises (default: host name)')
    .option(
      '--interval-ms <ms>',
      'time between heartbeats (same as --heartbeat-interval-ms; default: that of the `cloudai up` running ' +
        `for this data dir, else ${DEFAULT_CONFIG.heartbeatIntervalMs})`,
    ),
  ['taskMs', 'heartbeatIntervalMs', 'runtime', 'taskStopGraceMs'],
)
  .addOption(configOption('heartbeatTimeoutMs').hideHelp())
  .addOption(configOption('natsUrl'))
  .addOption(configOption('credentials'))
  .addOption(configOption('tlsCa'))
  .addOption(configOption('dataDir'))
  .action(async (flags: SharedFlags & WorkerCommandOptions & { intervalMs?: string }) =>
    (await import('./commands/worker.js')).workerCommand(flags, {
      ...flags,
      heartbeatIntervalMs: flags.heartbeatIntervalMs ?? flags.intervalMs,
    }),
  );

// `cloudai workers` shows the table; its subcommands act on one worker.
const workers = program
  .command('workers')
  .description(
    'show every worker from the read model (removed ones with --all); stats, cordon, uncordon, drain or remove one',
  )
  .option('--json', 'print the worker documents as JSON, each with its stats and whether it is schedulable')
  .option('--watch', 'redraw every second until Ctrl-C; with --json, one JSON array per line every second')
  .option(
    '--status <status>',
    `only these workers: ${WORKER_FILTERS.join(', ')} (removed ones only with --all or --status removed)`,
  )
  .option('--all', 'removed workers too')
  .addOption(configOption('dataDir'))
  .action(async (flags: SharedFlags & WorkersCommandOptions) =>
    (await import('./commands/workers.js')).workersCommand(flags, flags),
  );

workers
  .command('stats')
  .description('one worker: time active, suspect and inactive, outages, mean time to recovery, availability')
  .argument('<id>', 'worker id, as `cloudai workers` shows it')
  .option('--json', 'print the worker document with its stats as JSON')
  .addOption(configOption('dataDir'))
  .action(async (id: string, _flags: SharedFlags, command: Command) => {
    // `cloudai workers --data-dir D stats ID` gave --data-dir to `workers`: take it from there too.
    const flags = command.optsWithGlobals<SharedFlags & { json?: boolean }>();
    return (await import('./commands/workers-stats.js')).workersStatsCommand(id, flags, flags);
  });

const WORKER_CONTROLS: ReadonlyArray<[WorkerControl, string]> = [
  ['cordon', 'no new tasks for a worker; it keeps those it runs (undo with uncordon)'],
  ['uncordon', 'let a cordoned worker get new tasks again'],
  ['remove', 'forget an inactive worker that is gone for good; it registers again if it heartbeats'],
];
for (const [control, description] of WORKER_CONTROLS) {
  withConfigOptions(
    workers
      .command(control)
      .description(description)
      .argument('<id>', 'worker id, as `cloudai workers` lists it'),
    CLIENT_SETTINGS,
  ).action(async (id: string, _flags: SharedFlags, command: Command) =>
    (await import('./commands/operator.js')).workerControlCommand(
      control,
      id,
      command.optsWithGlobals<SharedFlags>(),
    ),
  );
}

withConfigOptions(
  workers
    .command('drain')
    .description(
      'no new tasks for a worker; those it runs may finish until the deadline, then they are stopped and requeued',
    )
    .argument('<id>', 'worker id, as `cloudai workers` lists it')
    .option(
      '--deadline <duration>',
      'how long its tasks may run on, like 1h, 30m or 90s',
      DEFAULT_DRAIN_DEADLINE,
    )
    .option('--cancel', 'end a drain under way: the worker gets new tasks again (unless cordoned)'),
  CLIENT_SETTINGS,
).action(async (id: string, _flags: SharedFlags, command: Command) => {
  const flags = command.optsWithGlobals<SharedFlags & DrainCommandOptions>();
  return (await import('./commands/operator.js')).drainCommand(id, flags, flags);
});

const disruption = program
  .command('disruption')
  .description('disruption mode: when too many workers go silent at once, nobody is declared inactive');

disruption
  .command('status')
  .description('whether the fleet is in disruption mode, from the read model')
  .option('--json', 'print the disruption document as JSON')
  .addOption(configOption('dataDir'))
  .action(async (flags: SharedFlags & { json?: boolean }) =>
    (await import('./commands/operator.js')).disruptionStatusCommand(flags, flags),
  );

withConfigOptions(
  disruption
    .command('end')
    .description(
      'end disruption mode: workers still silent are declared inactive now, and their tasks requeued',
    ),
  CLIENT_SETTINGS,
).action(async (flags: SharedFlags) => (await import('./commands/operator.js')).disruptionEndCommand(flags));

withConfigOptions(
  program
    .command('alerts')
    .description(
      'print liveness alerts (inactive, active again, suspect, disruption) as they happen, until Ctrl-C',
    )
    .option('--json', 'one JSON alert per line, as published on alerts.>'),
  CLIENT_SETTINGS,
).action(async (flags: SharedFlags & AlertsCommandOptions) =>
  (await import('./commands/alerts.js')).alertsCommand(flags, flags),
);

const cluster = program
  .command('cluster')
  .description("the control planes sharing this NATS (cluster), their roles, and the streams' replicas");
withConfigOptions(
  cluster
    .command('status')
    .description(
      'which control plane holds which partitions and the scheduler, lease ages, NATS servers, stream replicas',
    )
    .option('--json', 'as one JSON document'),
  CLIENT_SETTINGS,
).action(async (flags: SharedFlags & { json?: boolean }) =>
  (await import('./commands/cluster.js')).clusterStatusCommand(flags, flags),
);

const task = program.command('task').description('submit, inspect or cancel one task');

withConfigOptions(
  task
    .command('submit')
    .description('hand a task to the scheduler; prints the worker it went to, or why it waits')
    .option('--image <image>', 'container image the command runs in (e.g. python:3.12)')
    .option(
      '--command <cmd>',
      'shell command run with sh -c in the image (exit code 0: completed); without it the work is simulated',
    )
    .option('--cpu <n>', 'CPU cores requested (default 1)')
    .option('--memory <gb>', 'memory in GB requested (default 0.5)')
    .option('--storage <gb>', 'storage in GB requested (default 1)')
    .option('--gpu <n>', 'GPUs requested (default 0)')
    .option(
      '--type <type>',
      'cpu-light, cpu-heavy, memory-heavy, gpu-inference, gpu-training or mixed (default: inferred)',
    )
    .option('--k <k>', 'SLA multiplier between 1.5 and 2.5: deadline = submitted + k·τ (default 2.0)'),
  CLIENT_SETTINGS,
).action(async (flags: SharedFlags & TaskSubmitOptions) =>
  (await import('./commands/task.js')).taskSubmitCommand(flags, flags),
);

task
  .command('show')
  .description('show one task from the read model: its attempts and history')
  .argument('<id>', 'task id, as `cloudai task submit` printed it')
  .option('--json', 'print the task document as JSON')
  .addOption(configOption('dataDir'))
  .action(async (id: string, flags: SharedFlags & { json?: boolean }) =>
    (await import('./commands/task.js')).taskShowCommand(id, flags, flags),
  );

withConfigOptions(
  task
    .command('cancel')
    .description('cancel a task that has not ended; a running one is stopped on its worker')
    .argument('<id>', 'task id'),
  CLIENT_SETTINGS,
).action(async (id: string, flags: SharedFlags) =>
  (await import('./commands/task.js')).taskCancelCommand(id, flags),
);

withConfigOptions(
  task
    .command('logs')
    .description("print a task's output (the last part its workers kept); --follow prints it as it comes")
    .argument('<id>', 'task id')
    .option('--follow', 'keep printing new output until the task ends'),
  CLIENT_SETTINGS,
).action(async (id: string, flags: SharedFlags & { follow?: boolean }) =>
  (await import('./commands/task-logs.js')).taskLogsCommand(id, flags, flags),
);

program
  .command('tasks')
  .description('show every task from the read model, oldest first')
  .option('--json', 'print the task documents as JSON')
  .option(
    '--status <status>',
    'only tasks with this status: queued, assigned, running, completed, failed or cancelled',
  )
  .addOption(configOption('dataDir'))
  .action(async (flags: SharedFlags & TasksCommandOptions) =>
    (await import('./commands/tasks.js')).tasksCommand(flags, flags),
  );

withConfigOptions(
  program.command('rebuild').description('rebuild the read model from the WORKER_EVENTS and TASKS streams'),
  CLIENT_SETTINGS,
).action(async (flags: SharedFlags) => (await import('./commands/rebuild.js')).rebuildCommand(flags));

program
  .command('credentials')
  .description(
    'create the NKey of an identity (worker, cli, control-plane) and apply it; `tls`: a private CA and the ' +
      "server's certificate; `migrate`: replace password credentials with NKeys",
  )
  .argument('<identity>', 'worker, cli, control-plane, tls or migrate')
  .option('--id <id>', 'the worker id, for a worker')
  .option(
    '--host <name...>',
    'for tls: names and addresses the server is reached at (default: this host, localhost, 127.0.0.1)',
  )
  .addOption(configOption('dataDir'))
  .action(async (identity: string, flags: SharedFlags & CredentialsCommandOptions) =>
    (await import('./commands/credentials.js')).credentialsCommand(identity, flags, flags),
  );

try {
  await program.parseAsync(process.argv);
} catch (error) {
  process.exit(reportFailure(error));
}

/**
 * Prints a failed command's error and returns its exit code. An error the user's situation
 * caused carries its own advice: one line, no stack. Anything else is a bug, and says so.
 */
function reportFailure(error: unknown): number {
  const debug = Boolean(process.env.CLOUDAI_DEBUG);
  const stack = error instanceof Error ? error.stack : undefined;
  if (error instanceof UserFacingError) {
    process.stderr.write(`cloudai: ${error.message}\n`);
    if (debug && stack) process.stderr.write(`${stack}\n`);
    return EXIT_CODES.failed;
  }
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(
    `cloudai: internal error: ${message}\nThis is a bug in cloudai, not something you did. ` +
      (debug ? 'Please report it with this stack:\n' : 'Run again with CLOUDAI_DEBUG=1 to see its stack.\n'),
  );
  if (debug && stack) process.stderr.write(`${stack}\n`);
  return EXIT_CODES.internal;
}
