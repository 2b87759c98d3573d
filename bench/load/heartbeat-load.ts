import { setTimeout as sleep } from 'node:timers/promises';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { heartbeatSubject } from '../../streams/contracts/subjects.js';
import {
  type LoadCommand,
  type LoadReport,
  type LoadSetup,
  type LoadTarget,
  PROGRESS_EVERY_MS,
  RAW_SUBJECT_PREFIX,
  SIMULATED_CAPACITY,
  simulatedAddress,
  workerIdFor,
} from './load-protocol.js';

/**
 * The heartbeat-load child process: simulates many workers publishing heartbeats on core NATS.
 * Started by HeartbeatLoad with its setup as JSON in argv; driven over IPC.
 */

// Publishing in a tight loop buffers everything in the client: flush (a server round trip) this often.
const FLUSH_EVERY_MESSAGES = 2_000;
const PACED_TICK_MS = 5;
/** How far paced sending may fall behind its schedule before slots are skipped. */
const MAX_BACKLOG_MS = 500;
// Ceiling for one mode, whatever the benchmark asked: every loop here ends by itself.
const MAX_MODE_MS = 15 * 60_000;

const setup = JSON.parse(process.argv[2] ?? '{}') as LoadSetup;

function report(message: LoadReport): void {
  process.send?.(message);
}

const heartbeatSubjects: string[] = [];
const rawSubjects: string[] = [];
const payloadHeads: string[] = [];
const seqs = new Float64Array(setup.workers);
const stopped = new Uint8Array(setup.workers);
for (let index = 0; index < setup.workers; index++) {
  const workerId = workerIdFor(setup.workerPrefix, index);
  heartbeatSubjects.push(heartbeatSubject(workerId));
  rawSubjects.push(`${RAW_SUBJECT_PREFIX}${workerId}`);
  payloadHeads.push(`{"workerId":"${workerId}","address":"${simulatedAddress(index)}",`);
}
// A realistic heartbeat (about 230 bytes): capacity, usage and an empty task list.
const PAYLOAD_TAIL =
  `"capacity":${JSON.stringify(SIMULATED_CAPACITY)},` +
  '"usage":{"cpu":0.31,"memory":0.42,"storage":0.1,"gpu":0},"runningTasks":[]}';

/** Messages sent by the mode in progress (each mode counts from zero). */
let sent = 0;
/** Paced slots skipped because the simulator fell behind (those workers beat a round later). */
let skipped = 0;
let cursor = 0;
let processedByConsumer = 0;
let halted = false;
let running: Promise<void> | undefined;

function publishNext(
  nc: NatsConnection,
  now: number,
  subjects: readonly string[] = heartbeatSubjects,
): boolean {
  const index = cursor;
  cursor = cursor + 1 === setup.workers ? 0 : cursor + 1;
  if (stopped[index] === 1) return false;
  const seq = (seqs[index] ?? 0) + 1;
  seqs[index] = seq;
  nc.publish(subjects[index] as string, `${payloadHeads[index]}"sentAt":${now},"seq":${seq},${PAYLOAD_TAIL}`);
  sent++;
  return true;
}

async function paced(nc: NatsConnection, intervalMs: number, durationMs: number): Promise<void> {
  const started = Date.now();
  const perMs = setup.workers / intervalMs;
  let due = 0;
  let sinceFlush = 0;
  const endAt = started + Math.min(durationMs, MAX_MODE_MS);
  while (!halted && Date.now() < endAt) {
    const now = Date.now();
    // Slots, not messages: a stopped worker's slot passes silently, keeping everyone else's rhythm.
    const target = Math.floor((now - started) * perMs);
    // A starved simulator must not make up for lost time in a burst no real fleet would send:
    // the workers whose slots it fell too far behind on skip one beat instead.
    const backlogLimit = Math.ceil(perMs * MAX_BACKLOG_MS);
    if (target - due > backlogLimit) {
      const skip = target - due - backlogLimit;
      due += skip;
      cursor = (cursor + skip) % setup.workers;
      skipped += skip;
    }
    while (due < target) {
      due++;
      if (publishNext(nc, now)) sinceFlush++;
    }
    if (sinceFlush >= FLUSH_EVERY_MESSAGES) {
      sinceFlush = 0;
      await nc.flush();
    } else {
      await sleep(PACED_TICK_MS);
    }
  }
}

async function flood(
  nc: NatsConnection,
  durationMs: number,
  window: number,
  target: LoadTarget,
): Promise<void> {
  const subjects = target === 'raw' ? rawSubjects : heartbeatSubjects;
  const endAt = Date.now() + Math.min(durationMs, MAX_MODE_MS);
  while (!halted && Date.now() < endAt) {
    const allowed = Math.min(processedByConsumer + window - sent, FLUSH_EVERY_MESSAGES);
    if (allowed <= 0) {
      await sleep(1);
      continue;
    }
    const now = Date.now();
    // A fully stopped fleet would spin here; the bound on attempts keeps the loop finite.
    for (let attempts = 0, published = 0; published < allowed && attempts < allowed * 2; attempts++) {
      if (publishNext(nc, now, subjects)) published++;
    }
    await nc.flush();
  }
}

async function main(): Promise<void> {
  const nc = await connect({ servers: setup.natsUrl, name: 'cloudai-bench-load' });
  const startMode = (mode: 'paced' | 'flood', run: () => Promise<void>) => {
    halted = false;
    sent = 0;
    skipped = 0;
    processedByConsumer = 0;
    const cpuAtStart = process.cpuUsage();
    const progress = setInterval(() => report({ type: 'progress', sent }), PROGRESS_EVERY_MS);
    running = run()
      .then(() => nc.flush())
      .then(() => {
        const cpu = process.cpuUsage(cpuAtStart);
        report({ type: 'finished', mode, sent, skipped, cpuMs: (cpu.user + cpu.system) / 1_000 });
      })
      .catch((error: Error) => report({ type: 'failed', message: error.message }))
      .finally(() => {
        clearInterval(progress);
        running = undefined;
      });
  };
  process.on('message', (command: LoadCommand) => {
    switch (command.type) {
      case 'paced':
        startMode('paced', () => paced(nc, command.intervalMs, command.durationMs));
        break;
      case 'flood':
        startMode('flood', () => flood(nc, command.durationMs, command.window, command.target));
        break;
      case 'credit':
        processedByConsumer = command.processed;
        break;
      case 'stop-workers':
        stopped.fill(1, command.from, Math.min(setup.workers, command.from + command.count));
        report({ type: 'stopped', from: command.from, count: command.count, stoppedAt: Date.now() });
        break;
      case 'halt':
        halted = true;
        break;
      case 'exit':
        halted = true;
        void (running ?? Promise.resolve()).then(() => nc.close()).finally(() => process.exit(0));
        break;
    }
  });
  // Never outlive the benchmark that started us.
  process.on('disconnect', () => process.exit(0));
  report({ type: 'ready' });
}

main().catch((error: Error) => {
  report({ type: 'failed', message: error.message });
  process.exit(1);
});
