import { setTimeout as sleep } from 'node:timers/promises';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { TASK_SUBMIT_SUBJECT, taskAssignSubject } from '../streams/contracts/subjects.js';
import {
  type PlacementOutcome,
  submitReplySchema,
  type TaskEvent,
} from '../streams/contracts/task-events.js';
import { decodeJson, encodeJson } from '../streams/util/json-codec.js';
import { SIMULATED_CAPACITY } from './load/load-protocol.js';
import type { Benchmark } from './registry.js';
import { scenarioTiming, startFleetScenario } from './support/fleet-scenario.js';
import { startBaselineProbes } from './support/latency-probes.js';
import { type BenchParams, type BenchReport, type Figure, mustBeZero } from './support/report.js';
import type { BenchResources } from './support/resources.js';
import { type Distribution, distribution, ratio, round } from './support/stats.js';
import { atTargetScale, judge, TARGETS } from './targets.js';

/** The scale: 10 000 active workers from the fleet scenario. */
const TARGET_SCHEDULE_WORKERS = 10_000;
/** Submissions kept in flight when finding the most the control plane sustains (and for the raw baseline). */
const IN_FLIGHT = 256;
const STEADY_SECONDS = { full: 20, quick: 2 };
const RAW_SECONDS = { full: 5, quick: 1 };
const CLIENT_TIMEOUT_MS = 30_000;
/** How often the same-run probes (a JetStream publish, an LMDB commit) run during the steady phase. */
const PROBE_EVERY_MS = 20;
/**
 * How many bench tasks fit one simulated worker. Agents never finish them, so the fleet must hold every
 * task a run submits, even at the raw JetStream rate; a power of two keeps the shares exact in binary.
 */
const TASKS_PER_WORKER = 256;
const TASK_REQUEST = {
  image: 'bench:latest',
  cpu: SIMULATED_CAPACITY.cpu / TASKS_PER_WORKER,
  memoryGb: SIMULATED_CAPACITY.memoryGb / TASKS_PER_WORKER,
};

export const scheduleE2eBenchmark: Benchmark = {
  name: 'schedule-e2e',
  summary:
    'submissions through the control plane (request → scheduler → TaskAssigned stored by JetStream → ' +
    'agent acknowledged) with N active workers: at a steady 100/s, and the most it sustains',
  defaults: { workers: TARGET_SCHEDULE_WORKERS, seconds: 30 },
  quick: { workers: 500, seconds: 2 },
  run: runScheduleE2e,
};

/** One submission as the client saw it, and when its TaskAssigned was acknowledged by JetStream. */
interface Submission {
  taskId: string;
  sentAt: number;
  repliedAt?: number;
  outcome?: PlacementOutcome | { kind: 'failed'; error: string };
}

async function runScheduleE2e(
  params: BenchParams,
  resources: BenchResources,
  progress: (line: string) => void,
): Promise<BenchReport> {
  const assigned = new Map<string, { at: number; count: number }>();
  let requeued = 0;
  const onTaskEventStored = (event: TaskEvent) => {
    if (event.type === 'TaskRequeued') requeued++;
    if (event.type !== 'TaskAssigned') return;
    const seen = assigned.get(event.taskId);
    if (seen) seen.count++;
    else assigned.set(event.taskId, { at: performance.now(), count: 1 });
  };
  const steadySeconds = params.quick ? STEADY_SECONDS.quick : STEADY_SECONDS.full;
  const rawSeconds = params.quick ? RAW_SECONDS.quick : RAW_SECONDS.full;
  const scenario = await startFleetScenario(resources, {
    workers: params.workers,
    timing: scenarioTiming(params.quick),
    progress,
    observers: { onTaskEventStored },
    measureMs: (steadySeconds + rawSeconds + params.seconds) * 1_000 + 60_000,
  });
  const { natsUrl, controlPlane } = scenario;
  const agents = await benchConnection(resources, natsUrl, 'cloudai-bench-agents');
  // The workers' agents: every assignment offered is taken, as a healthy agent would.
  const accepted = encodeJson({ accepted: true });
  agents.subscribe(taskAssignSubject('*'), {
    callback: (_error, msg) => {
      msg.respond(accepted);
    },
  });
  await agents.flush();
  const client = await benchConnection(resources, natsUrl, 'cloudai-bench-submitter');
  const submitter = new Submitter(client);

  progress(`steady: ${TARGETS.scheduleSteadyRate} submissions/s for ${steadySeconds} s`);
  const probes = await startBaselineProbes(resources, natsUrl, { everyMs: PROBE_EVERY_MS });
  const steady = await submitter.atRate(TARGETS.scheduleSteadyRate, steadySeconds * 1_000);
  const baselines = await probes.stop();
  progress(`baseline: raw JetStream publishes, ${IN_FLIGHT} in flight, for ${rawSeconds} s`);
  const rawPerSecond = await rawPublishRate(natsUrl, rawSeconds * 1_000);
  progress(`the most it sustains: ${IN_FLIGHT} submissions in flight for ${params.seconds} s`);
  const sustainedStart = performance.now();
  const sustained = await submitter.inFlight(IN_FLIGHT, params.seconds * 1_000);
  const sustainedMs = performance.now() - sustainedStart;
  await scenario.stopLoad();

  const toAssigned = (submissions: Submission[]) =>
    distribution(
      submissions.flatMap((submission) => {
        const at = assigned.get(submission.taskId)?.at;
        return at === undefined ? [] : [at - submission.sentAt];
      }),
    );
  const toReply = (submissions: Submission[]) =>
    distribution(submissions.flatMap((s) => (s.repliedAt === undefined ? [] : [s.repliedAt - s.sentAt])));
  const steadyLatency = toAssigned(steady);
  const first = steady[0];
  const firstAssignedAt = first && assigned.get(first.taskId)?.at;
  const firstMs = first && firstAssignedAt !== undefined ? firstAssignedAt - first.sentAt : Number.NaN;
  const steadyReply = toReply(steady);
  const sustainedLatency = toAssigned(sustained);
  const all = [...steady, ...sustained];
  const neverAssigned = all.filter((submission) => !assigned.has(submission.taskId)).length;
  const assignedTwice = all.filter((submission) => (assigned.get(submission.taskId)?.count ?? 0) > 1).length;
  const notReportedAssigned = all.filter((submission) => submission.outcome?.kind !== 'assigned').length;
  const sustainedPerSecond = (sustained.length / sustainedMs) * 1_000;
  const atScale = atTargetScale(params, TARGET_SCHEDULE_WORKERS);
  return {
    benchmark: 'schedule-e2e',
    params: { ...params, steadySeconds, rawSeconds, inFlight: IN_FLIGHT },
    figures: [
      {
        ...againstOneAck('p99', steadyLatency, baselines.jetStreamAck),
        target: {
          text: `p99 ≤ ${TARGETS.scheduleToAssignedP99Ms} ms`,
          met: judge(atScale, steadyLatency.p99 <= TARGETS.scheduleToAssignedP99Ms),
        },
      },
      againstOneAck('p50', steadyLatency, baselines.jetStreamAck),
      {
        key: 'firstToAssignedMs',
        label: 'the first of them (the first placement after the fleet registered)',
        value: round(firstMs, 2),
        unit: 'ms',
        baseline: { label: 'p50 of all', value: round(steadyLatency.p50, 2) },
        ratio: ratio(firstMs, steadyLatency.p50),
      },
      {
        key: 'steadyEventLoopDelayP99Ms',
        label: 'event-loop delay of this process meanwhile, p99',
        value: baselines.eventLoopDelay.p99,
        unit: 'ms',
        baseline: { label: 'max', value: baselines.eventLoopDelay.max },
      },
      {
        key: 'steadyToReplyP99Ms',
        label: `request → reply "assigned" (agent acknowledged), ${TARGETS.scheduleSteadyRate}/s, p99`,
        value: round(steadyReply.p99, 2),
        unit: 'ms',
        baseline: { label: 'p50', value: round(steadyReply.p50, 2) },
        ratio: ratio(steadyReply.p99, steadyReply.p50),
      },
      {
        key: 'sustainedPerSecond',
        label: `submissions/s sustained for ${params.seconds} s, each assigned`,
        value: round(sustainedPerSecond),
        unit: '/s',
        baseline: { label: `raw JetStream publishes/s, ${IN_FLIGHT} in flight`, value: round(rawPerSecond) },
        ratio: ratio(sustainedPerSecond, rawPerSecond),
      },
      {
        key: 'sustainedToAssignedP99Ms',
        label: `request → TaskAssigned stored, ${IN_FLIGHT} in flight, p99`,
        value: round(sustainedLatency.p99, 2),
        unit: 'ms',
        baseline: { label: 'p50', value: round(sustainedLatency.p50, 2) },
        ratio: ratio(sustainedLatency.p99, sustainedLatency.p50),
      },
      mustBeZero(
        { key: 'neverAssigned', label: 'submissions never assigned', value: neverAssigned, unit: 'tasks' },
        atScale,
      ),
      mustBeZero(
        {
          key: 'assignedTwice',
          label: 'submissions assigned more than once',
          value: assignedTwice,
          unit: 'tasks',
        },
        atScale,
      ),
      mustBeZero(
        {
          key: 'notReportedAssigned',
          label: 'submissions whose reply was not "assigned"',
          value: notReportedAssigned,
          unit: 'tasks',
        },
        atScale,
      ),
      mustBeZero({ key: 'requeued', label: 'tasks requeued', value: requeued, unit: 'tasks' }, atScale),
    ],
    notes: [
      `${all.length} submissions (${steady.length} steady, ${sustained.length} with ${IN_FLIGHT} in flight) ` +
        `to ${controlPlane.fleet.size} active workers, which hold ${controlPlane.fleet.size * TASKS_PER_WORKER} such tasks`,
      'the control plane, the submitting client and one subscriber answering every assignment for the ' +
        'agents share this process; the heartbeats of the fleet keep arriving throughout',
      'each submission costs the control plane two JetStream publishes (TaskSubmitted, TaskAssigned), ' +
        'following both back from the stream, and the offer to the agent',
    ],
  };
}

/** A percentile of request → TaskAssigned stored at the steady rate, against one JetStream publish's. */
function againstOneAck(which: 'p50' | 'p99', latency: Distribution, oneAck: Distribution): Figure {
  return {
    key: `steadyToAssigned${which.toUpperCase()}Ms`,
    label: `request → TaskAssigned stored, ${TARGETS.scheduleSteadyRate}/s, ${which}`,
    value: round(latency[which], 2),
    unit: 'ms',
    baseline: { label: `one JetStream publish + ack, ${which}`, value: round(oneAck[which], 2) },
    ratio: ratio(latency[which], oneAck[which]),
  };
}

async function benchConnection(
  resources: BenchResources,
  natsUrl: string,
  name: string,
): Promise<NatsConnection> {
  const nc = await connect({ servers: natsUrl, name, noAsyncTraces: true });
  resources.defer(name, () => nc.close());
  return nc;
}

/** Submits tasks the way `cloudai task submit` does, and keeps what each request saw. */
class Submitter {
  private next = 0;

  constructor(private readonly nc: NatsConnection) {}

  /** `perSecond` submissions, evenly spread, for `ms`; resolves when every reply is in. */
  async atRate(perSecond: number, ms: number): Promise<Submission[]> {
    const submissions: Submission[] = [];
    const replies: Promise<void>[] = [];
    const startedAt = performance.now();
    const total = Math.round((perSecond * ms) / 1_000);
    while (submissions.length < total) {
      const due = Math.min(total, Math.floor(((performance.now() - startedAt) * perSecond) / 1_000) + 1);
      while (submissions.length < due) {
        const submission = this.start();
        submissions.push(submission.submission);
        replies.push(submission.replied);
      }
      await sleep(1_000 / perSecond / 2);
    }
    await Promise.all(replies);
    return submissions;
  }

  /** Keeps `window` submissions in flight for `ms`; resolves when every reply is in. */
  async inFlight(window: number, ms: number): Promise<Submission[]> {
    const submissions: Submission[] = [];
    const endAt = performance.now() + ms;
    const lane = async () => {
      while (performance.now() < endAt) {
        const { submission, replied } = this.start();
        submissions.push(submission);
        await replied;
      }
    };
    await Promise.all(Array.from({ length: window }, lane));
    return submissions;
  }

  private start(): { submission: Submission; replied: Promise<void> } {
    const taskId = `bench-${String(this.next++).padStart(7, '0')}`;
    const submission: Submission = { taskId, sentAt: performance.now() };
    const replied = this.nc
      .request(TASK_SUBMIT_SUBJECT, encodeJson({ taskId, task: TASK_REQUEST }), {
        timeout: CLIENT_TIMEOUT_MS,
      })
      .then((reply) => {
        submission.repliedAt = performance.now();
        const decoded = decodeJson(reply.data, submitReplySchema);
        if (!decoded.ok) submission.outcome = { kind: 'failed', error: decoded.detail };
        else if (!decoded.value.ok) submission.outcome = { kind: 'failed', error: decoded.value.error };
        else submission.outcome = decoded.value.outcome;
      })
      .catch((error: Error) => {
        submission.outcome = { kind: 'failed', error: error.message };
      });
    return { submission, replied };
  }
}

/** JetStream's own rate on this server: `IN_FLIGHT` publishes of an event-sized message kept in flight for `ms`. */
async function rawPublishRate(natsUrl: string, ms: number): Promise<number> {
  const nc = await connect({ servers: natsUrl, name: 'cloudai-bench-raw-publish', noAsyncTraces: true });
  try {
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: 'BENCH_RAW_TASKS', subjects: ['bench.rawtasks.>'] });
    const js = jetstream(nc);
    const payload = encodeJson({
      type: 'TaskAssigned',
      taskId: 'bench-0000000',
      at: Date.now(),
      workerId: 'w000000',
      attempt: 1,
      basedOnWorkerSeq: 10_000,
      policy: 'rts',
    });
    let published = 0;
    const startedAt = performance.now();
    const endAt = startedAt + ms;
    const lane = async () => {
      while (performance.now() < endAt) {
        const id = published++;
        await js.publish(`bench.rawtasks.t${id}`, payload, { msgID: `t${id}`, timeout: CLIENT_TIMEOUT_MS });
      }
    };
    await Promise.all(Array.from({ length: IN_FLIGHT }, lane));
    return (published / (performance.now() - startedAt)) * 1_000;
  } finally {
    await nc.close();
  }
}
