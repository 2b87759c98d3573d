import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * What a running `cloudai up` tells the other commands on its data dir: where its NATS server
 * listens (it may not be 4222) and the heartbeat timing its control plane expects, so that
 * `cloudai task submit` or `cloudai worker` in another terminal need no flags to join it.
 */
export interface RunningUp {
  /** The `cloudai up` process; the file is stale once it is gone. */
  pid: number;
  /** One URL, or several comma-separated (`up --ha`): clients fail over between them. */
  natsUrl: string;
  /** The CA its server's certificate is signed by (`up --tls`); empty: no TLS. */
  tlsCa: string;
  heartbeatIntervalMs: number;
  heartbeatTimeoutMs: number;
}

export function runningUpPath(dataDir: string): string {
  return join(dataDir, 'up.json');
}

export function writeRunningUp(dataDir: string, running: RunningUp): void {
  writeFileSync(runningUpPath(dataDir), `${JSON.stringify(running, null, 2)}\n`);
}

/** Removes the file if it still describes `pid` (a later `up` may have replaced it). */
export function removeRunningUp(dataDir: string, pid: number): void {
  if (readRunningUpFile(dataDir)?.pid === pid) rmSync(runningUpPath(dataDir), { force: true });
}

/** The `cloudai up` running on this data dir, or undefined: no file, an unreadable one, or its process is gone. */
export function findRunningUp(dataDir: string): RunningUp | undefined {
  const running = readRunningUpFile(dataDir);
  return running && isAlive(running.pid) ? running : undefined;
}

function readRunningUpFile(dataDir: string): RunningUp | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(runningUpPath(dataDir), 'utf8'));
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null) return undefined;
  const { pid, natsUrl, heartbeatIntervalMs, heartbeatTimeoutMs, tlsCa } = parsed as Record<string, unknown>;
  const positive = (value: unknown): value is number => Number.isInteger(value) && (value as number) > 0;
  // One server, or the comma-separated servers of `up --ha`.
  const isServerList = (value: unknown): value is string =>
    typeof value === 'string' && value.split(',').every((url) => /^nats:\/\/[^\s,]+$/.test(url));
  if (!positive(pid) || !isServerList(natsUrl)) return undefined;
  if (!positive(heartbeatIntervalMs) || !positive(heartbeatTimeoutMs)) return undefined;
  return {
    pid,
    natsUrl,
    heartbeatIntervalMs,
    heartbeatTimeoutMs,
    tlsCa: typeof tlsCa === 'string' ? tlsCa : '',
  };
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists, under another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
