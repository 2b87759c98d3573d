import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { NatsConnection } from '@nats-io/transport-node';
import { credentialsDir, embeddedServerDir } from '../../cli/config.js';
import { renderAuthConf } from '../../streams/contracts/authorization.js';
import { CredentialStore } from '../../streams/nats/credentials.js';
import { NatsServer } from '../../streams/nats/nats-server.js';

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

export interface AuthorizedServer<W extends string> {
  dataDir: { path: string; remove: () => void };
  store: CredentialStore;
  server: NatsServer;
  /** Credentials files of the control plane, the CLI and each worker (by its id). */
  files: { control: string; cli: string } & Record<W, string>;
}

/**
 * An installation with authorization on, as `cloudai up` lays it out: credentials for the
 * control plane, the CLI and `workerIds` in a fresh data dir, and a nats-server that knows them.
 */
export async function startAuthorizedServer<W extends string>(
  prefix: string,
  workerIds: readonly W[],
): Promise<AuthorizedServer<W>> {
  const dataDir = makeTempDir(prefix);
  const store = new CredentialStore(credentialsDir(dataDir.path));
  const files = {
    control: store.ensure({ role: 'control-plane' }).path,
    cli: store.ensure({ role: 'cli' }).path,
    ...(Object.fromEntries(
      workerIds.map((workerId) => [workerId, store.ensure({ role: 'worker', workerId }).path]),
    ) as Record<W, string>),
  };
  const server = await NatsServer.start({
    storeDir: embeddedServerDir(dataDir.path),
    port: 0,
    authConf: renderAuthConf(store.authUsers()),
  });
  killOnExit(server.process);
  return { dataDir, store, server, files };
}

/** The errors the server reports on `nc`, such as permission violations (they arrive asynchronously). */
export function collectServerErrors(nc: NatsConnection): string[] {
  const errors: string[] = [];
  void (async () => {
    for await (const status of nc.status()) {
      if (status.type === 'error') errors.push(status.error.message);
    }
  })();
  return errors;
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
    await sleep(10);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}
