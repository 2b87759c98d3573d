import type { DisruptionDocument } from '../../projections/disruption-document.js';
import {
  type OperatorReply,
  operatorReplySchema,
  parseDrainDeadline,
} from '../../streams/contracts/operator-requests.js';
import {
  DISRUPTION_END_SUBJECT,
  ID_RULE,
  isValidWorkerId,
  WORKER_CORDON_SUBJECT,
  WORKER_DRAIN_CANCEL_SUBJECT,
  WORKER_DRAIN_SUBJECT,
  WORKER_REMOVE_SUBJECT,
  WORKER_UNCORDON_SUBJECT,
} from '../../streams/contracts/subjects.js';
import { UserFacingError } from '../../streams/util/user-error.js';
import { type Config, ConfigError, type ConfigOverrides, resolveClientConfig } from '../config.js';
import { askControlPlane } from '../control-plane-request.js';
import { readSnapshot } from '../read-model-snapshot.js';
import { formatDuration } from '../terminal.js';

export type WorkerControl = 'cordon' | 'uncordon' | 'remove';

const CONTROLS: Record<WorkerControl, { subject: string; done: string; says: (workerId: string) => string }> =
  {
    cordon: {
      subject: WORKER_CORDON_SUBJECT,
      done: 'cordoned',
      says: (workerId) =>
        `it gets no new tasks and keeps those it runs; \`cloudai workers uncordon ${workerId}\` undoes it`,
    },
    uncordon: {
      subject: WORKER_UNCORDON_SUBJECT,
      done: 'uncordoned',
      says: () => 'it gets new tasks again while it is active',
    },
    remove: {
      subject: WORKER_REMOVE_SUBJECT,
      done: 'removed',
      says: () => 'it is forgotten; if it heartbeats again it registers afresh',
    },
  };

/** `cloudai workers cordon|uncordon|remove ID`: asks the control plane's fleet, prints one line. */
export async function workerControlCommand(
  control: WorkerControl,
  workerId: string,
  overrides: ConfigOverrides,
): Promise<void> {
  const config = resolveClientConfig(overrides);
  checkWorkerId(workerId);
  const { subject, done, says } = CONTROLS[control];
  const reply = await askFleet(
    config,
    subject,
    { workerId },
    {
      nothingDone: `nothing was ${done}`,
      maybeDone: `worker ${workerId} may have been ${done}: check with \`cloudai workers\``,
    },
  );
  if (!reply.ok) throw new UserFacingError(reply.error);
  process.stdout.write(`worker ${workerId} ${done}: ${says(workerId)}\n`);
}

export interface DrainCommandOptions {
  deadline: string;
  cancel?: boolean;
}

/**
 * `cloudai workers drain ID [--deadline D] [--cancel]`: no new tasks for the worker; its tasks
 * may finish until the deadline, then those left are stopped and placed elsewhere.
 */
export async function drainCommand(
  workerId: string,
  options: DrainCommandOptions,
  overrides: ConfigOverrides,
): Promise<void> {
  const config = resolveClientConfig(overrides);
  checkWorkerId(workerId);
  if (options.cancel) {
    const reply = await askFleet(
      config,
      WORKER_DRAIN_CANCEL_SUBJECT,
      { workerId },
      {
        nothingDone: 'no drain was cancelled',
        maybeDone: `the drain of ${workerId} may have been cancelled: check with \`cloudai workers\``,
      },
    );
    if (!reply.ok) throw new UserFacingError(reply.error);
    process.stdout.write(`worker ${workerId}: drain cancelled; it gets new tasks again unless cordoned\n`);
    return;
  }
  const deadline = parseDrainDeadline(options.deadline);
  if (!deadline.ok) throw new ConfigError(`--deadline ${deadline.problem}`);
  const deadlineMs = deadline.ms;
  const reply = await askFleet(
    config,
    WORKER_DRAIN_SUBJECT,
    { workerId, deadlineMs },
    {
      nothingDone: 'no drain was started',
      maybeDone: `worker ${workerId} may be draining: check with \`cloudai workers\``,
    },
  );
  if (!reply.ok) throw new UserFacingError(reply.error);
  process.stdout.write(
    `worker ${workerId} draining: no new tasks; those it runs may finish within ${formatDuration(deadlineMs)}, ` +
      `then they are stopped and placed elsewhere; \`cloudai workers drain ${workerId} --cancel\` ends it\n`,
  );
}

/** `cloudai disruption end`: the operator says the fleet's view was right; silent workers turn inactive. */
export async function disruptionEndCommand(overrides: ConfigOverrides): Promise<void> {
  const config = resolveClientConfig(overrides);
  const reply = await askFleet(
    config,
    DISRUPTION_END_SUBJECT,
    {},
    {
      nothingDone: 'disruption mode was not ended',
      maybeDone: 'disruption mode may have ended: check with `cloudai disruption status`',
    },
  );
  if (!reply.ok) throw new UserFacingError(reply.error);
  process.stdout.write(
    'disruption mode ended: workers still silent are declared inactive now, and their tasks requeued\n',
  );
}

/** `cloudai disruption status`: from the read model only. */
export async function disruptionStatusCommand(
  options: { json?: boolean },
  overrides: ConfigOverrides,
): Promise<void> {
  const config = resolveClientConfig(overrides);
  const disruption = await readSnapshot(config.dataDir, (view) => view.disruption());
  process.stdout.write(
    options.json
      ? `${JSON.stringify(disruption, null, 2)}\n`
      : `${describeDisruption(disruption, Date.now())}\n`,
  );
}

/** One or two lines on disruption mode, as `cloudai disruption status` prints them. */
export function describeDisruption(disruption: DisruptionDocument, now: number): string {
  if (disruption.active) {
    const since = disruption.since === null ? '' : ` for ${formatDuration(now - disruption.since)}`;
    return (
      `disruption mode${since}: ${disruption.unhealthyWorkers} of ${disruption.consideredWorkers} workers went ` +
      'silent at once.\nNo worker is declared inactive and no task is requeued until heartbeats return or ' +
      '`cloudai disruption end`; new tasks are still placed on schedulable workers.'
    );
  }
  if (disruption.endedAt === null) return 'no disruption mode: there has been none';
  const by = {
    operator: 'by an operator',
    heartbeats: 'when heartbeats returned',
    takeover: 'when the partitions of its control plane were taken over',
  }[disruption.endedBy ?? 'heartbeats'];
  return `no disruption mode: the last one ended ${formatDuration(now - disruption.endedAt)} ago, ${by}`;
}

function checkWorkerId(workerId: string): void {
  if (!isValidWorkerId(workerId)) {
    throw new ConfigError(
      `worker id ${JSON.stringify(workerId)} is invalid: use ${ID_RULE}; ` +
        'list the workers with `cloudai workers`',
    );
  }
}

function askFleet(
  config: Config,
  subject: string,
  body: unknown,
  advice: { nothingDone: string; maybeDone: string },
): Promise<OperatorReply> {
  return askControlPlane(config, {
    subject,
    body,
    schema: operatorReplySchema,
    service: 'control plane',
    clientName: 'cloudai-operator',
    advice,
  });
}
