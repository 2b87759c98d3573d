import { setTimeout as sleep } from 'node:timers/promises';
import { connect } from '@nats-io/transport-node';
import { DEFAULT_CONFIG } from '../cli/config.js';
import { controlPlaneIdOf } from '../control-plane/control-plane-id.js';
import { partitionOf, WORKER_PARTITIONS } from '../streams/contracts/partitions.js';
import { HEARTBEAT_PREFIX } from '../streams/contracts/subjects.js';
import type { WorkerStreamEvent } from '../streams/contracts/worker-events.js';
import { HeartbeatLoad } from './load/heartbeat-load-client.js';
import { BENCH_WORKER_PREFIX, workerIdFor } from './load/load-protocol.js';
import type { Benchmark } from './registry.js';
import { LeaseObserver, watchWorkerEvents } from './support/ha-observer.js';
import { type BenchParams, type BenchReport, type Figure, mustBeZero } from './support/report.js';
import type { BenchResources } from './support/resources.js';
import { ServeProcess } from './support/serve-process.js';
import { distribution, pollUntil, ratio, round } from './support/stats.js';
import { atTargetScale, judge, TARGETS } from './targets.js';

interface FailoverTiming {
  intervalMs: number;
  heartbeatTimeoutMs: number;
  leaseTtlMs: number;
  /** Liveness settings beyond the timeout, as environment variables of `serve`. */
  suspicion: { suspectAfterMs?: number; phiMinSamples?: number };
  repetitions: number;
}

/**
 * --quick: short lease and timeout so a repetition takes seconds. A fixed grace before suspicion
 * (φ never decides) as in the fault tests: on a loaded 2-core machine φ at a 500 ms interval
 * would turn scheduling pauses into suspicions that no failover caused.
 */
const QUICK_TIMING: FailoverTiming = {
  intervalMs: 500,
  heartbeatTimeoutMs: 3_000,
  leaseTtlMs: 2_000,
  suspicion: { suspectAfterMs: 1_500, phiMinSamples: 1_000_000 },
  repetitions: 2,
};

/** The defaults of `serve`: what an operator gets. */
const FULL_TIMING: FailoverTiming = {
  intervalMs: DEFAULT_CONFIG.heartbeatIntervalMs,
  heartbeatTimeoutMs: DEFAULT_CONFIG.heartbeatTimeoutMs,
  leaseTtlMs: DEFAULT_CONFIG.leaseTtlMs,
  suspicion: {},
  repetitions: 3,
};

const FULL_SCALE_WORKERS = 5_000;

export const failoverBenchmark: Benchmark = {
  name: 'failover',
  summary:
    'two `cloudai serve` share N beating workers; kill -9 one of them: time until the survivor holds its ' +
    'partitions, and until a worker of each that stopped at the kill is inactive; false alarms of live workers',
  defaults: { workers: FULL_SCALE_WORKERS, seconds: 10 },
  quick: { workers: 1_000, seconds: 2 },
  run: runFailover,
};

interface Repetition {
  /** Kill → the survivor's first write of each partition the victim held. */
  takeoverMs: number[];
  /** Kill → the survivor's first write of the scheduler lease, if the victim held it. */
  schedulerTakeoverMs?: number;
  /** Kill → each stopped worker's WorkerInactive seen on the stream's subject. */
  inactiveAfterKillMs: number[];
  /** Each stopped worker's last heartbeat → its WorkerInactive seen. */
  inactiveAfterLastBeatMs: number[];
  /** WorkerInactive of stopped workers written by the victim's partitions' new holder. */
  writtenBySurvivor: number;
}

async function runFailover(
  params: BenchParams,
  resources: BenchResources,
  progress: (line: string) => void,
): Promise<BenchReport> {
  const timing = params.quick ? QUICK_TIMING : FULL_TIMING;
  const server = await resources.natsServer();
  const observerConnection = await connect({ servers: server.url, name: 'cloudai-bench-failover' });
  resources.defer('failover observer connection', () => observerConnection.close());

  // Every WorkerSuspected/WorkerInactive, by worker and event number (a retried publish is seen twice).
  const alarms = new Map<
    string,
    { workerId: string; type: WorkerStreamEvent['type']; writer?: string; seenAt: number }
  >();
  const startedAt = Date.now();
  const registered = new Set<string>();
  const inactiveSeen = new Map<string, { writer?: string; seenAt: number }>();
  // The last heartbeat of each worker as the server delivers it: the issue's bound counts from there.
  const lastBeatAt = new Map<string, number>();
  const beats = observerConnection.subscribe(`${HEARTBEAT_PREFIX}>`);
  void (async () => {
    for await (const message of beats)
      lastBeatAt.set(message.subject.slice(message.subject.lastIndexOf('.') + 1), Date.now());
  })();
  watchWorkerEvents(observerConnection, (event, seenAt) => {
    if (event.type === 'WorkerRegistered') registered.add(event.workerId);
    if (event.type === 'WorkerSuspected' || event.type === 'WorkerInactive') {
      alarms.set(`${event.workerId}#${event.seq}`, {
        workerId: event.workerId,
        type: event.type,
        writer: event.controlPlane,
        seenAt,
      });
    }
    if (event.type === 'WorkerInactive' && !inactiveSeen.has(event.workerId)) {
      inactiveSeen.set(event.workerId, { writer: event.controlPlane, seenAt });
    }
  });

  const dataDirs = [resources.tempDir('cp-a'), resources.tempDir('cp-b')];
  const startServe = (index: number) =>
    ServeProcess.start(resources, {
      natsUrl: server.url,
      dataDir: dataDirs[index] as string,
      label: index === 0 ? 'A' : 'B',
      settings: {
        heartbeatIntervalMs: timing.intervalMs,
        heartbeatTimeoutMs: timing.heartbeatTimeoutMs,
        leaseTtlMs: timing.leaseTtlMs,
        ...timing.suspicion,
      },
    });
  const serves = await Promise.all([startServe(0), startServe(1)]);
  const everyServe = [...serves];
  const ids = dataDirs.map((dataDir) => controlPlaneIdOf(dataDir));
  const leases = await LeaseObserver.start(observerConnection, 30_000);
  const balanced = () =>
    leases.partitions.size === WORKER_PARTITIONS &&
    ids.every((id) => leases.heldBy(id).length === WORKER_PARTITIONS / 2);
  await leases.until(
    balanced,
    timing.leaseTtlMs * 3 + 30_000,
    'the two control planes sharing the partitions',
  );
  progress(`control planes ${ids.join(' and ')} hold ${WORKER_PARTITIONS / 2} partitions each`);

  const load = await HeartbeatLoad.start(resources, {
    natsUrl: server.url,
    workerPrefix: BENCH_WORKER_PREFIX,
    workers: params.workers,
  });
  const loadDone = load.paced(timing.intervalMs, 60 * 60_000);
  const allRegistered = await pollUntil(() => registered.size >= params.workers, 120_000, 100);
  if (!allRegistered) throw new Error(`only ${registered.size} of ${params.workers} workers registered`);
  progress(`${params.workers} workers registered, beating every ${timing.intervalMs} ms`);
  await sleep(params.seconds * 1_000);

  const stoppedWorkers = new Set<number>();
  const pickStopped = (partition: number): number => {
    for (let index = 0; index < params.workers; index++) {
      if (!stoppedWorkers.has(index) && partitionOf(workerIdFor(BENCH_WORKER_PREFIX, index)) === partition) {
        stoppedWorkers.add(index);
        return index;
      }
    }
    throw new Error(`no worker left to stop in partition ${partition}`);
  };

  const repetitions: Repetition[] = [];
  const killTimes: number[] = [];
  for (let round = 0; round < timing.repetitions; round++) {
    // A lease lost under load (see the leaseLosses figure) is retaken after a TTL: start from a settled split.
    await leases.until(
      balanced,
      timing.leaseTtlMs * 3 + 30_000,
      'the two control planes sharing the partitions',
    );
    const victim = round % 2;
    const survivorId = ids[1 - victim] as string;
    const victimPartitions = leases.heldBy(ids[victim] as string);
    const victimHadScheduler = leases.scheduler?.holder === ids[victim];
    const stopped = victimPartitions.map((partition) =>
      workerIdFor(BENCH_WORKER_PREFIX, pickStopped(partition)),
    );
    for (const workerId of stopped)
      await load.stopWorkers(Number(workerId.slice(BENCH_WORKER_PREFIX.length)), 1);
    const killedAt = Date.now();
    killTimes.push(killedAt);
    await serves[victim]?.kill();
    progress(
      `round ${round + 1}: ${new Date(killedAt).toISOString()} killed ${ids[victim]} (partitions ${victimPartitions.join(', ')}` +
        `${victimHadScheduler ? ' and the scheduler' : ''}); one worker of each stopped with it`,
    );
    const boundMs = timing.leaseTtlMs + timing.heartbeatTimeoutMs + TARGETS.failoverSlackMs;
    await leases.until(
      () => leases.heldBy(survivorId).length === WORKER_PARTITIONS,
      boundMs + 30_000,
      `${survivorId} holding every partition`,
    );
    const takeoverMs = victimPartitions.map(
      (partition) => (leases.partitions.get(partition)?.since ?? Number.NaN) - killedAt,
    );
    if (victimHadScheduler) {
      await leases.until(
        () => leases.scheduler?.holder === survivorId,
        boundMs + 30_000,
        'the scheduler taken over',
      );
    }
    const detected = await pollUntil(
      () => stopped.every((workerId) => inactiveSeen.has(workerId)),
      boundMs + 30_000,
      50,
    );
    if (!detected) throw new Error(`stopped workers ${stopped.join(', ')} not all inactive`);
    const detections = stopped.map((workerId) => ({
      workerId,
      ...(inactiveSeen.get(workerId) as { writer?: string; seenAt: number }),
    }));
    repetitions.push({
      takeoverMs,
      schedulerTakeoverMs: victimHadScheduler
        ? (leases.scheduler?.since ?? Number.NaN) - killedAt
        : undefined,
      inactiveAfterKillMs: detections.map(({ seenAt }) => seenAt - killedAt),
      inactiveAfterLastBeatMs: detections.map(
        ({ workerId, seenAt }) => seenAt - (lastBeatAt.get(workerId) ?? Number.NaN),
      ),
      writtenBySurvivor: detections.filter(({ writer }) => writer === survivorId).length,
    });
    progress(
      `round ${round + 1}: partitions taken over ${Math.round(Math.min(...takeoverMs))}–${Math.round(Math.max(...takeoverMs))} ms ` +
        `after the kill; stopped workers inactive ${Math.round(Math.max(...(repetitions.at(-1)?.inactiveAfterKillMs ?? [])))} ms after it`,
    );
    // The victim comes back with its data dir (the same member): the two share the partitions again.
    const restarted = await startServe(victim);
    serves[victim] = restarted;
    everyServe.push(restarted);
    await leases.until(
      balanced,
      timing.leaseTtlMs * 3 + 30_000,
      'the restarted control plane taking its share back',
    );
    // A whole timeout after the hand-back: a live worker wrongly judged by it would be inactive by now.
    await sleep(timing.heartbeatTimeoutMs + timing.intervalMs);
  }
  const { sent, skipped } = await load.halt();
  await loadDone;

  const stoppedIds = new Set([...stoppedWorkers].map((index) => workerIdFor(BENCH_WORKER_PREFIX, index)));
  const falseAlarms = [...alarms.values()].filter((event) => !stoppedIds.has(event.workerId));
  const falseSuspected = falseAlarms.filter((event) => event.type === 'WorkerSuspected').length;
  const falseInactive = falseAlarms.filter((event) => event.type === 'WorkerInactive').length;
  const survivorsLeaseLosses = everyServe.reduce((sum, serve) => sum + serve.logCounts.leasesLost, 0);

  const takeover = distribution(repetitions.flatMap((repetition) => repetition.takeoverMs));
  const afterKill = distribution(repetitions.flatMap((repetition) => repetition.inactiveAfterKillMs));
  const afterLastBeat = distribution(repetitions.flatMap((repetition) => repetition.inactiveAfterLastBeatMs));
  const schedulerTakeovers = repetitions.flatMap((repetition) =>
    repetition.schedulerTakeoverMs === undefined ? [] : [repetition.schedulerTakeoverMs],
  );
  const ttlAndTimeout = timing.leaseTtlMs + timing.heartbeatTimeoutMs;
  const atScale = atTargetScale(params, FULL_SCALE_WORKERS);
  const ttlBaseline = { label: 'lease TTL', value: timing.leaseTtlMs };
  const figures: Figure[] = [
    {
      key: 'takeoverP50',
      label: 'kill -9 → survivor holds the partition, p50',
      value: round(takeover.p50),
      unit: 'ms',
      baseline: ttlBaseline,
      ratio: ratio(takeover.p50, timing.leaseTtlMs),
    },
    {
      key: 'takeoverMax',
      label: 'kill -9 → survivor holds the partition, max',
      value: round(takeover.max),
      unit: 'ms',
      baseline: ttlBaseline,
      ratio: ratio(takeover.max, timing.leaseTtlMs),
    },
    ...(schedulerTakeovers.length > 0
      ? [
          {
            key: 'schedulerTakeoverMax',
            label: 'kill -9 → survivor holds the scheduler, max',
            value: round(Math.max(...schedulerTakeovers)),
            unit: 'ms',
            baseline: ttlBaseline,
            ratio: ratio(Math.max(...schedulerTakeovers), timing.leaseTtlMs),
          },
        ]
      : []),
    {
      key: 'inactiveAfterKillP50',
      label: 'kill -9 → stopped worker inactive, p50',
      value: round(afterKill.p50),
      unit: 'ms',
      baseline: { label: 'lease TTL + heartbeat timeout', value: ttlAndTimeout },
      ratio: ratio(afterKill.p50, ttlAndTimeout),
    },
    {
      key: 'inactiveAfterKillMax',
      label: 'kill -9 → stopped worker inactive, max',
      value: round(afterKill.max),
      unit: 'ms',
      baseline: { label: 'lease TTL + heartbeat timeout', value: ttlAndTimeout },
      ratio: ratio(afterKill.max, ttlAndTimeout),
    },
    {
      key: 'inactiveAfterLastBeatMax',
      label: 'last heartbeat → stopped worker inactive, max',
      value: round(afterLastBeat.max),
      unit: 'ms',
      baseline: { label: 'lease TTL + heartbeat timeout', value: ttlAndTimeout },
      ratio: ratio(afterLastBeat.max, ttlAndTimeout),
      target: {
        text: `≤ TTL + timeout + ${TARGETS.failoverSlackMs / 1_000} s`,
        met: judge(atScale, afterLastBeat.max <= ttlAndTimeout + TARGETS.failoverSlackMs),
      },
    },
    mustBeZero(
      {
        key: 'notWrittenBySurvivor',
        label: 'stopped workers judged by another than the survivor',
        value: repetitions.reduce(
          (sum, repetition) => sum + repetition.inactiveAfterKillMs.length - repetition.writtenBySurvivor,
          0,
        ),
        unit: '',
      },
      atScale,
    ),
    mustBeZero(
      {
        key: 'falseSuspected',
        label: 'WorkerSuspected of live workers',
        value: falseSuspected,
        unit: '',
        baseline: { label: 'live workers', value: params.workers - stoppedIds.size },
      },
      atScale,
    ),
    mustBeZero(
      {
        key: 'falseInactive',
        label: 'WorkerInactive of live workers',
        value: falseInactive,
        unit: '',
        baseline: { label: 'live workers', value: params.workers - stoppedIds.size },
      },
      atScale,
    ),
    {
      key: 'leaseLosses',
      label: 'leases lost unplanned by a live control plane',
      value: survivorsLeaseLosses,
      unit: '',
    },
  ];
  return {
    benchmark: 'failover',
    params: {
      ...params,
      repetitions: repetitions.length,
      intervalMs: timing.intervalMs,
      heartbeatTimeoutMs: timing.heartbeatTimeoutMs,
      leaseTtlMs: timing.leaseTtlMs,
    },
    figures,
    notes: [
      `each round kills one of two \`cloudai serve\` (alternately) and stops one worker of each of its ` +
        `${WORKER_PARTITIONS / 2} partitions at the same instant; ${repetitions.length} rounds, ` +
        `${takeover.count} partition takeovers, ${afterKill.count} detections`,
      '"holds" = the survivor\'s first write of the lease in `cloudai-leases`; the issue\'s bound is ' +
        'last heartbeat → inactive ≤ lease TTL + heartbeat timeout + 1 s',
      `heartbeats sent ${sent}, slots skipped by a late simulator ${skipped}`,
      ...everyServe.flatMap((serve) => serve.leaseLossLines),
      ...falseAlarms
        .slice(0, 5)
        .map(
          (alarm) =>
            `false alarm: ${alarm.type} of ${alarm.workerId} (partition ${partitionOf(alarm.workerId)}) by ` +
            `${alarm.writer} at +${alarm.seenAt - startedAt} ms; kills at ${killTimes.map((at) => `+${at - startedAt}`).join(', ')} ms`,
        ),
    ],
  };
}
