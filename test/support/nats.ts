import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NatsServer } from '../../streams/nats-server.js';

/** A fresh temporary directory, removed by the returned cleanup. */
export function makeTempDir(prefix: string): { path: string; remove: () => void } {
  const path = mkdtempSync(join(tmpdir(), `cloudai-${prefix}-`));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/** A nats-server of the test's own, on a free loopback port with its own store directory. */
export async function startTestNatsServer(storeDir: string, port = 0): Promise<NatsServer> {
  const server = await NatsServer.start({ storeDir, port });
  // A test that crashes must not leave its server running.
  const killServer = () => server.process.kill('SIGKILL');
  process.once('exit', killServer);
  server.process.once('exit', () => process.off('exit', killServer));
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
