import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NatsServer } from '../../streams/nats-server.js';

const childrenToKill = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of childrenToKill) child.kill('SIGKILL');
});

/** A test that crashes or fails must not leave the processes it started running. */
export function killOnExit(child: ChildProcess): void {
  childrenToKill.add(child);
  child.once('exit', () => childrenToKill.delete(child));
}

/** A fresh temporary directory, removed by the returned cleanup. */
export function makeTempDir(prefix: string): { path: string; remove: () => void } {
  const path = mkdtempSync(join(tmpdir(), `cloudai-${prefix}-`));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/** A nats-server of the test's own, on a free loopback port with its own store directory. */
export async function startTestNatsServer(storeDir: string, port = 0): Promise<NatsServer> {
  const server = await NatsServer.start({ storeDir, port });
  killOnExit(server.process);
  return server;
}

/** Polls `check` until it returns true or `timeoutMs` passes; returns how long it took. */
export async function waitFor(
  check: () => boolean | Promise<boolean>,
  timeoutMs: number,
  what: string,
): Promise<number> {
  const started = Date.now();
  while (Date.now() - started < timeoutMs) {
    if (await check()) return Date.now() - started;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}
