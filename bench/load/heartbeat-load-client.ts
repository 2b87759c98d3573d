import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { BenchResources } from '../support/resources.js';
import type { LoadCommand, LoadReport, LoadSetup, LoadTarget } from './load-protocol.js';

const CHILD_SCRIPT = fileURLToPath(new URL('./heartbeat-load.js', import.meta.url));
const READY_TIMEOUT_MS = 15_000;
const CREDIT_EVERY_MS = 20;

type Finished = Extract<LoadReport, { type: 'finished' }>;

interface Waiter {
  accept: (report: LoadReport) => boolean;
  resolve: (report: LoadReport) => void;
  reject: (error: Error) => void;
}

/** The benchmark's side of a heartbeat-load child process (see heartbeat-load.ts). */
export class HeartbeatLoad {
  private readonly waiters: Waiter[] = [];
  private failure?: Error;
  /** The mode in progress: at most one at a time. */
  private running?: Promise<Finished>;
  private sentByMode = 0;

  private constructor(
    private readonly child: ChildProcess,
    readonly setup: LoadSetup,
  ) {
    child.on('message', (report: LoadReport) => {
      if (report.type === 'progress') this.sentByMode = report.sent;
      if (report.type === 'failed') this.fail(new Error(`heartbeat load failed: ${report.message}`));
      const index = this.waiters.findIndex((waiter) => waiter.accept(report));
      if (index >= 0) this.waiters.splice(index, 1)[0]?.resolve(report);
    });
    child.once('exit', (code, signal) => this.fail(new Error(`heartbeat load exited (${signal ?? code})`)));
  }

  /** Forks the load process; it is stopped when `resources` close. */
  static async start(resources: BenchResources, setup: LoadSetup): Promise<HeartbeatLoad> {
    const child = fork(CHILD_SCRIPT, [JSON.stringify(setup)], {
      // Not the benchmark's own flags (e.g. --cpu-prof): the load is not what is measured.
      execArgv: [],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const load = new HeartbeatLoad(child, setup);
    resources.adoptProcess(child, `heartbeat load pid ${child.pid}`, () => load.close());
    await load.next((report) => report.type === 'ready', READY_TIMEOUT_MS);
    return load;
  }

  /** Messages the running mode had sent at its last progress report (at most PROGRESS_EVERY_MS old). */
  get sent(): number {
    return this.sentByMode;
  }

  /** Every worker beats once per `intervalMs` for `durationMs`; resolves when that time is over. */
  paced(intervalMs: number, durationMs: number): Promise<Finished> {
    return this.startMode(durationMs, { type: 'paced', intervalMs, durationMs });
  }

  /**
   * Publishes as fast as the consumer keeps up for `durationMs`; `processed` reads the
   * consumer's count, which is fed back as credit so nothing is ever dropped by the server.
   */
  async flood(
    durationMs: number,
    window: number,
    processed: () => number,
    target: LoadTarget = 'heartbeats',
  ): Promise<Finished> {
    const finished = this.startMode(durationMs, { type: 'flood', durationMs, window, target });
    const credit = setInterval(() => this.send({ type: 'credit', processed: processed() }), CREDIT_EVERY_MS);
    try {
      return await finished;
    } finally {
      clearInterval(credit);
    }
  }

  /** Silences workers `from` … `from + count − 1`; resolves with the instant they stopped. */
  async stopWorkers(from: number, count: number): Promise<number> {
    const stopped = this.next((report) => report.type === 'stopped' && report.from === from, 10_000);
    this.send({ type: 'stop-workers', from, count });
    const report = await stopped;
    return report.type === 'stopped' ? report.stoppedAt : Number.NaN;
  }

  /** Ends the running mode; resolves once the child has flushed what it sent. */
  halt(): Promise<Finished> {
    if (!this.running) return Promise.reject(new Error('no heartbeat load is running'));
    this.send({ type: 'halt' });
    return this.running;
  }

  private startMode(durationMs: number, command: LoadCommand): Promise<Finished> {
    if (this.running) throw new Error('a heartbeat load mode is already running');
    this.sentByMode = 0;
    const finished = this.next(isFinished, durationMs + 30_000) as Promise<Finished>;
    this.running = finished;
    const clear = () => {
      this.running = undefined;
    };
    finished.then(clear, clear);
    this.send(command);
    return finished;
  }

  async close(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.send({ type: 'exit' });
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  }

  private send(command: LoadCommand): void {
    if (this.child.connected) this.child.send(command);
  }

  private next(accept: (report: LoadReport) => boolean, timeoutMs: number): Promise<LoadReport> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise<LoadReport>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        reject(new Error(`heartbeat load did not answer within ${timeoutMs} ms`));
      }, timeoutMs);
      const waiter: Waiter = {
        accept,
        resolve: (report: LoadReport) => {
          clearTimeout(timer);
          resolve(report);
        },
        reject: (error: Error) => {
          clearTimeout(timer);
          reject(error);
        },
      };
      this.waiters.push(waiter);
    });
  }

  private fail(error: Error): void {
    this.failure ??= error;
    for (const waiter of this.waiters.splice(0)) waiter.reject(error);
  }
}

function isFinished(report: LoadReport): boolean {
  return report.type === 'finished';
}
