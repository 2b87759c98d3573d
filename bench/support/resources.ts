import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NatsServer } from '../../streams/nats/nats-server.js';

/**
 * Everything one benchmark starts (servers, child processes, connections, temp dirs),
 * released in reverse order by `close()`, which runs even when the benchmark throws.
 * A benchmark that leaves a nats-server behind would skew every later figure.
 */
export class BenchResources {
  private readonly cleanups: Array<{ what: string; release: () => unknown }> = [];
  private readonly processes: ChildProcess[] = [];
  private readonly tempDirs: string[] = [];
  private closed = false;
  /** Lines nats-server logged about slow consumers (it drops their messages or their connection). */
  slowConsumerLogLines = 0;

  /** Registers a cleanup; it runs at `close()`, after those registered later. */
  defer(what: string, release: () => unknown): void {
    if (this.closed) throw new Error(`cannot register ${what}: resources already closed`);
    this.cleanups.push({ what, release });
  }

  tempDir(prefix: string): string {
    const path = mkdtempSync(join(tmpdir(), `cloudai-bench-${prefix}-`));
    this.tempDirs.push(path);
    this.defer(`temp dir ${path}`, () => rmSync(path, { recursive: true, force: true }));
    return path;
  }

  /** A nats-server of this benchmark's own: loopback, a free port, a temporary store. */
  async natsServer(): Promise<NatsServer> {
    const server = await NatsServer.start({
      storeDir: this.tempDir('nats'),
      port: 0,
      onLogLine: (line) => {
        if (/slow consumer/i.test(line)) this.slowConsumerLogLines++;
      },
    });
    this.processes.push(server.process);
    this.defer(`nats-server pid ${server.pid}`, () => server.stop());
    return server;
  }

  /** A child process this benchmark started: stopped by `release` at close, killed at once by `killNow`. */
  adoptProcess(child: ChildProcess, what: string, release: () => Promise<void>): void {
    this.processes.push(child);
    this.defer(what, release);
  }

  /** Last resort on the way out (a crash, an exit or a second Ctrl-C): no waiting, nothing left behind. */
  killNow(): void {
    for (const child of this.processes) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
    for (const path of this.tempDirs) rmSync(path, { recursive: true, force: true });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const { what, release } of this.cleanups.reverse()) {
      try {
        await release();
      } catch (error) {
        process.stderr.write(`bench: cleanup of ${what} failed: ${(error as Error).message}\n`);
      }
    }
  }
}
