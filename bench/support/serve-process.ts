import { type ChildProcess, spawn } from 'node:child_process';
import { appendFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CONFIG_ENV, type Config } from '../../cli/config.js';
import { EXIT_WITH_PARENT_ENV } from '../../cli/lifecycle.js';
import { findFreePort } from '../../streams/util/ports.js';
import { projectRoot } from '../../streams/util/project-root.js';
import type { BenchResources } from './resources.js';

const CLI_PATH = join(projectRoot(), 'dist', 'cli', 'main.js');
// A serve restores its share of the fleet before it says it serves, which takes long on a large fleet.
const READY_TIMEOUT_MS = 300_000;
const LOG_TAIL_LINES = 40;
/** Set to a folder to keep each `serve`'s whole log there (serve-<label>-<pid>.log). */
const LOG_DIR_ENV = 'CLOUDAI_BENCH_SERVE_LOG_DIR';
// Linux reports a process's CPU time in clock ticks of 1/100 s (USER_HZ) on every platform Node runs on.
const CLOCK_TICKS_PER_SECOND = 100;

export interface ServeOptions {
  natsUrl: string;
  dataDir: string;
  /** Settings of this `serve`, passed as their environment variables (CONFIG_ENV). */
  settings: Partial<Config>;
  /** Started with `--cpu-prof` into this folder; the profile is written when it stops gracefully. */
  cpuProfileDir?: string;
  /** Shown in progress lines and errors. */
  label: string;
}

/** Counts of the lines a `serve` logged that a benchmark judges by. */
export interface ServeLogCounts {
  warnings: number;
  errors: number;
  /** "gave up partition …": a lease lost without being handed on (expired or taken). */
  leasesLost: number;
}

/**
 * A real `cloudai serve` process (dist/cli/main.js), so it can be killed with SIGKILL as a crash
 * would: its own data dir, its metrics on a free port, its log kept as counts and a short tail.
 */
export class ServeProcess {
  readonly logCounts: ServeLogCounts = { warnings: 0, errors: 0, leasesLost: 0 };
  /** When it logged its first lease taken, and that it serves: the span is the restore of its workers. */
  firstLeaseAt?: number;
  servingAt?: number;
  /** The first lines that told of a lost lease, for the report's notes. */
  readonly leaseLossLines: string[] = [];
  private readonly tail: string[] = [];
  private readonly exited: Promise<void>;
  private lineListeners: Array<(line: string) => void> = [];

  private constructor(
    readonly child: ChildProcess,
    readonly label: string,
    readonly metricsPort: number,
  ) {
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    let buffered = '';
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      buffered += chunk;
      let newline = buffered.indexOf('\n');
      while (newline >= 0) {
        this.onLine(buffered.slice(0, newline));
        buffered = buffered.slice(newline + 1);
        newline = buffered.indexOf('\n');
      }
    });
  }

  /** Starts `cloudai serve` and resolves once it takes heartbeats ("serving on"). */
  static async start(resources: BenchResources, options: ServeOptions): Promise<ServeProcess> {
    const metricsPort = await findFreePort();
    const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', [EXIT_WITH_PARENT_ENV]: '1' };
    const settings: Partial<Config> = {
      ...options.settings,
      natsUrl: options.natsUrl,
      dataDir: options.dataDir,
      metricsPort,
      metricsHost: '127.0.0.1',
    };
    for (const [key, value] of Object.entries(settings)) {
      const name = CONFIG_ENV[key as keyof Config];
      if (!name) throw new Error(`setting ${key} has no environment variable`);
      if (value !== undefined) env[name] = String(value);
    }
    const profiling = options.cpuProfileDir ? ['--cpu-prof', `--cpu-prof-dir=${options.cpuProfileDir}`] : [];
    const child = spawn(process.execPath, [...profiling, CLI_PATH, 'serve'], {
      env,
      // stdin stays open: serve exits when it ends (the benchmark died); stdout carries nothing.
      stdio: ['pipe', 'ignore', 'pipe'],
    });
    const serve = new ServeProcess(child, options.label, metricsPort);
    resources.adoptProcess(child, `serve ${options.label} pid ${child.pid}`, () => serve.stop());
    await serve.waitForLine(/serving on/, READY_TIMEOUT_MS);
    return serve;
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** The last lines it logged, for an error message. */
  logTail(): string {
    return this.tail.join('\n');
  }

  /** User + system CPU time of the process so far, in seconds (from /proc). */
  cpuSeconds(): number {
    return processCpuSeconds(this.pid);
  }

  /** Resolves with the first line from now on that matches. */
  waitForLine(pattern: RegExp, timeoutMs: number): Promise<string> {
    return new Promise((resolve, reject) => {
      const listener = (line: string) => {
        if (!pattern.test(line)) return;
        done();
        resolve(line);
      };
      const onExit = () => {
        done();
        reject(new Error(`serve ${this.label} exited before logging ${pattern}:\n${this.logTail()}`));
      };
      const timer = setTimeout(() => {
        done();
        reject(
          new Error(`serve ${this.label} did not log ${pattern} within ${timeoutMs} ms:\n${this.logTail()}`),
        );
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.lineListeners = this.lineListeners.filter((other) => other !== listener);
        this.child.off('exit', onExit);
      };
      this.lineListeners.push(listener);
      this.child.once('exit', onExit);
    });
  }

  /** The value of a counter or gauge (summed over its labels unless `labels` picks one series). */
  async metric(name: string, labels = ''): Promise<number> {
    const response = await fetch(`http://127.0.0.1:${this.metricsPort}/metrics`);
    const text = await response.text();
    let total = 0;
    let found = false;
    for (const line of text.split('\n')) {
      if (!line.startsWith(name)) continue;
      const rest = line.slice(name.length);
      if (!(rest.startsWith(' ') || rest.startsWith('{'))) continue;
      if (labels && !rest.startsWith(`{${labels}}`)) continue;
      total += Number(rest.slice(rest.lastIndexOf(' ') + 1));
      found = true;
    }
    if (!found) throw new Error(`serve ${this.label} has no metric ${name}${labels ? `{${labels}}` : ''}`);
    return total;
  }

  /** SIGKILL, as a crash would; resolves once it is gone. */
  async kill(): Promise<void> {
    if (this.running) this.child.kill('SIGKILL');
    await this.exited;
  }

  /** SIGTERM (it hands its leases on, and writes its CPU profile if it has one), SIGKILL after 15 s. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 15_000);
    await this.exited;
    clearTimeout(timer);
  }

  private onLine(line: string): void {
    const logDir = process.env[LOG_DIR_ENV];
    if (logDir) appendFileSync(join(logDir, `serve-${this.label}-${this.pid}.log`), `${line}\n`);
    if (/ WARN /.test(line)) this.logCounts.warnings++;
    if (/ ERROR /.test(line)) this.logCounts.errors++;
    if (this.firstLeaseAt === undefined && /took (partition|the scheduler)/.test(line))
      this.firstLeaseAt = Date.now();
    if (this.servingAt === undefined && /serving on/.test(line)) this.servingAt = Date.now();
    if (/gave up (partition|the scheduler)/.test(line)) {
      this.logCounts.leasesLost++;
      if (this.leaseLossLines.length < 5) this.leaseLossLines.push(`${this.label}: ${line}`);
    }
    this.tail.push(line);
    if (this.tail.length > LOG_TAIL_LINES) this.tail.shift();
    for (const listener of this.lineListeners) listener(line);
  }
}

/** User + system CPU time of a process so far, in seconds: fields 14 and 15 of /proc/<pid>/stat. */
export function processCpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) may hold spaces; the fields after its closing parenthesis do not.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return (utime + stime) / CLOCK_TICKS_PER_SECOND;
}
